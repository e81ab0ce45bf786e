#include "workpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "err.h"

struct job {
	work_fn work;
	work_done_fn done;
	void *arg;
	struct job *next;
};

struct job_list {
	struct job *head, *tail;
};

struct workpool {
	struct ev_loop *loop;
	ev_async wake;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_cond_t idle; /* a job finished */
	struct job_list queued;
	struct job_list finished;
	int running;
	int alive; /* worker threads not yet exited */
	bool stopping;
	bool abandoned; /* no loop to report to */
	int nthreads;
	pthread_t *threads;
};

static void
list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct job *
list_pop(struct job_list *l)
{
	struct job *j = l->head;

	if (j != NULL) {
		l->head = j->next;
		if (l->head == NULL)
			l->tail = NULL;
	}
	return j;
}

static void
pool_destroy(struct workpool *wp)
{
	struct job *j;

	while ((j = list_pop(&wp->queued)) != NULL)
		free(j);
	while ((j = list_pop(&wp->finished)) != NULL)
		free(j);
	pthread_mutex_destroy(&wp->lock);
	pthread_cond_destroy(&wp->cond);
	pthread_cond_destroy(&wp->idle);
	free(wp->threads);
	free(wp);
}

static void *
workpool_worker_main(void *arg)
{
	struct workpool *wp = arg;
	struct job *j;
	bool last;

	pthread_mutex_lock(&wp->lock);
	for (;;) {
		while (!wp->stopping && wp->queued.head == NULL)
			pthread_cond_wait(&wp->cond, &wp->lock);
		if (wp->stopping)
			break;
		j = list_pop(&wp->queued);
		wp->running++;
		pthread_mutex_unlock(&wp->lock);
		j->work(j->arg);
		pthread_mutex_lock(&wp->lock);
		wp->running--;
		pthread_cond_broadcast(&wp->idle);
		if (wp->abandoned) {
			/* The loop may be gone; so may the job's owner. */
			free(j);
			break;
		}
		list_push(&wp->finished, j);
		ev_async_send(wp->loop, &wp->wake);
	}
	/* Abandoned, the pool is the last worker's to free. */
	last = --wp->alive == 0 && wp->abandoned;
	pthread_mutex_unlock(&wp->lock);
	if (last)
		pool_destroy(wp);
	return NULL;
}

static void
workpool_on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct workpool *wp = w->data;
	struct job_list done;
	struct job *j;

	pthread_mutex_lock(&wp->lock);
	done = wp->finished;
	wp->finished.head = wp->finished.tail = NULL;
	pthread_mutex_unlock(&wp->lock);
	while ((j = list_pop(&done)) != NULL) {
		j->done(j->arg);
		free(j);
	}
}

int
workpool_new(struct ev_loop *loop, int nthreads, struct workpool **out)
{
	struct workpool *wp;
	int i;

	if ((wp = calloc(1, sizeof(*wp))) == NULL)
		return MERR_NOMEM;
	if ((wp->threads = calloc(nthreads, sizeof(*wp->threads))) == NULL) {
		free(wp);
		return MERR_NOMEM;
	}
	wp->loop = loop;
	pthread_mutex_init(&wp->lock, NULL);
	pthread_cond_init(&wp->cond, NULL);
	pthread_cond_init(&wp->idle, NULL);
	ev_async_init(&wp->wake, workpool_on_wake);
	wp->wake.data = wp;
	/* Active while the pool lives: the loop waits for it when nothing
	 * else is. The loop's owners end their loops on their own
	 * condition, never on the count of active watchers. */
	ev_async_start(loop, &wp->wake);
	pthread_mutex_lock(&wp->lock);
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&wp->threads[i], NULL, workpool_worker_main,
			wp) != 0)
			break;
	}
	wp->nthreads = wp->alive = i;
	pthread_mutex_unlock(&wp->lock);
	if (i == 0) {
		workpool_free(wp);
		return MERR_SYS;
	}
	*out = wp;
	return 0;
}

int
workpool_submit(struct workpool *wp, work_fn work, work_done_fn done,
    void *arg)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return MERR_NOMEM;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&wp->lock);
	list_push(&wp->queued, j);
	pthread_cond_signal(&wp->cond);
	pthread_mutex_unlock(&wp->lock);
	return 0;
}

void
workpool_free(struct workpool *wp)
{
	struct timespec until;
	int i;

	if (wp == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WORKPOOL_GRACE;
	pthread_mutex_lock(&wp->lock);
	wp->stopping = true;
	pthread_cond_broadcast(&wp->cond);
	/* Owners cancel their jobs before they let the loop end, so a job
	 * still running is one stuck in a call nothing interrupts (a name
	 * lookup, say). Exiting must not wait for it. */
	while (wp->running > 0 &&
	    pthread_cond_timedwait(&wp->idle, &wp->lock, &until) != ETIMEDOUT)
		;
	if (wp->running > 0) {
		/* Leave the pool to the stuck workers: they free their job
		 * and exit without touching the loop if they ever return,
		 * and the last one frees the pool. */
		ev_async_stop(wp->loop, &wp->wake);
		for (i = 0; i < wp->nthreads; i++)
			pthread_detach(wp->threads[i]);
		wp->abandoned = true;
		pthread_mutex_unlock(&wp->lock);
		return;
	}
	pthread_mutex_unlock(&wp->lock);
	for (i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	ev_async_stop(wp->loop, &wp->wake);
	pool_destroy(wp);
}
