#include "workpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

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
	struct job_list queued;
	struct job_list finished;
	bool stopping;
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

static void *
worker_main(void *arg)
{
	struct workpool *wp = arg;
	struct job *j;

	pthread_mutex_lock(&wp->lock);
	for (;;) {
		while (!wp->stopping && wp->queued.head == NULL)
			pthread_cond_wait(&wp->cond, &wp->lock);
		if (wp->stopping)
			break;
		j = list_pop(&wp->queued);
		pthread_mutex_unlock(&wp->lock);
		j->work(j->arg);
		pthread_mutex_lock(&wp->lock);
		list_push(&wp->finished, j);
		ev_async_send(wp->loop, &wp->wake);
	}
	pthread_mutex_unlock(&wp->lock);
	return NULL;
}

static void
on_wake(struct ev_loop *loop, ev_async *w, int revents)
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
	ev_async_init(&wp->wake, on_wake);
	wp->wake.data = wp;
	ev_async_start(loop, &wp->wake);
	/* The wake-up watcher must not keep the loop alive on its own. */
	ev_unref(loop);
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&wp->threads[i], NULL, worker_main, wp) != 0)
			break;
	}
	wp->nthreads = i;
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
	struct job *j;
	int i;

	if (wp == NULL)
		return;
	pthread_mutex_lock(&wp->lock);
	wp->stopping = true;
	pthread_cond_broadcast(&wp->cond);
	pthread_mutex_unlock(&wp->lock);
	for (i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	while ((j = list_pop(&wp->queued)) != NULL)
		free(j);
	while ((j = list_pop(&wp->finished)) != NULL)
		free(j);
	ev_ref(wp->loop);
	ev_async_stop(wp->loop, &wp->wake);
	pthread_mutex_destroy(&wp->lock);
	pthread_cond_destroy(&wp->cond);
	free(wp->threads);
	free(wp);
}
