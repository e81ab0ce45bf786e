/*
 * node_exporter's network collectors: netdev, netclass, netstat,
 * sockstat, softnet, arp and conntrack (see nodefam.h).
 */
#include "nodefam.h"

#include <dirent.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "famset.h"

#define NAME_MAX_LEN 128
/* A sysfs attribute: a number, an address or a word. */
#define ATTR_MAX 256

/* node_exporter 1.5's --collector.netstat.fields default. */
#define NETSTAT_FIELDS                                                      \
	"^(.*_(InErrors|InErrs)|Ip_Forwarding|"                             \
	"Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|"           \
	"TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|"         \
	"Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|" \
	"CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|"  \
	"SndbufErrors))$"

static const char *const l_device[] = { "device" };

/* --- netdev ------------------------------------------------------------ */

static const char *const rx_fields[] = {
	"bytes",
	"packets",
	"errs",
	"drop",
	"fifo",
	"frame",
	"compressed",
	"multicast",
};
static const char *const tx_fields[] = {
	"bytes",
	"packets",
	"errs",
	"drop",
	"fifo",
	"colls",
	"carrier",
	"compressed",
};

int
nodefam_netdev(int rootfd, char *buf, size_t size)
{
	char name[NAME_MAX_LEN], *p = buf, *line, *colon, *dev, *w;
	const char *lv[1];
	double v[16];
	int i, n;

	if (famset_slurp(rootfd, "proc/net/dev", buf, size) < 0)
		return -1;
	while ((line = famset_line(&p)) != NULL) {
		/* "  eth0: 1 2 ...": large counters touch the colon. */
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		dev = line;
		while (*dev == ' ')
			dev++;
		/* Debian's node_exporter default --collector.netdev.
		 * device-exclude="^lo$"; netclass keeps it. */
		if (strcmp(dev, "lo") == 0)
			continue;
		line = colon + 1;
		for (n = 0; n < 16 && (w = famset_word(&line)) != NULL; n++)
			if (famset_number(w, &v[n]) != 0)
				break;
		if (n != 16)
			continue;
		lv[0] = dev;
		for (i = 0; i < 16; i++) {
			(void)snprintf(name, sizeof(name),
			    "node_network_%s_%s_total",
			    i < 8 ? "receive" : "transmit",
			    i < 8 ? rx_fields[i] : tx_fields[i - 8]);
			if (famset_begin(name, FAM_COUNTER, 1, l_device) == 0)
				famset_add(v[i], lv);
		}
	}
	return 0;
}

/* --- netclass ---------------------------------------------------------- */

static const struct {
	const char *file, *family;
	enum famset_type type;
	int hex;
} class_attrs[] = {
	{ "addr_assign_type", "node_network_address_assign_type", FAM_GAUGE,
	    0 },
	{ "carrier", "node_network_carrier", FAM_GAUGE, 0 },
	{ "carrier_changes", "node_network_carrier_changes_total", FAM_COUNTER,
	    0 },
	{ "carrier_up_count", "node_network_carrier_up_changes_total",
	    FAM_COUNTER, 0 },
	{ "carrier_down_count", "node_network_carrier_down_changes_total",
	    FAM_COUNTER, 0 },
	{ "dev_id", "node_network_device_id", FAM_GAUGE, 1 },
	{ "dormant", "node_network_dormant", FAM_GAUGE, 0 },
	{ "flags", "node_network_flags", FAM_GAUGE, 1 },
	{ "ifindex", "node_network_iface_id", FAM_GAUGE, 0 },
	{ "iflink", "node_network_iface_link", FAM_GAUGE, 0 },
	{ "link_mode", "node_network_iface_link_mode", FAM_GAUGE, 0 },
	{ "mtu", "node_network_mtu_bytes", FAM_GAUGE, 0 },
	{ "name_assign_type", "node_network_name_assign_type", FAM_GAUGE, 0 },
	{ "netdev_group", "node_network_net_dev_group", FAM_GAUGE, 0 },
	{ "type", "node_network_protocol_type", FAM_GAUGE, 0 },
	{ "tx_queue_len", "node_network_transmit_queue_length", FAM_GAUGE, 0 },
};

/* The first line of an attribute, "" when it cannot be read (many
 * attributes refuse reads on a link that is down). */
static const char *
attr(int rootfd, const char *dev, const char *file, char *val)
{
	char path[NAME_MAX_LEN + 64], *p, *nl;

	val[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "sys/class/net/%s/%s", dev,
		file) >= sizeof(path) ||
	    famset_slurp(rootfd, path, val, ATTR_MAX) < 0) {
		val[0] = '\0';
		return val;
	}
	p = val;
	if ((nl = strchr(p, '\n')) != NULL)
		*nl = '\0';
	return val;
}

static void
class_device(int rootfd, const char *dev)
{
	static const char *const l_info[] = {
		"address",
		"broadcast",
		"device",
		"duplex",
		"ifalias",
		"operstate",
	};
	char val[6][ATTR_MAX], one[ATTR_MAX];
	const char *lv[6], *ld[1];
	double v;
	size_t i;

	ld[0] = dev;
	lv[0] = attr(rootfd, dev, "address", val[0]);
	lv[1] = attr(rootfd, dev, "broadcast", val[1]);
	lv[2] = dev;
	lv[3] = attr(rootfd, dev, "duplex", val[3]);
	lv[4] = attr(rootfd, dev, "ifalias", val[4]);
	lv[5] = attr(rootfd, dev, "operstate", val[5]);
	if (famset_begin("node_network_info", FAM_GAUGE, 6, l_info) == 0)
		famset_add(1, lv);
	if (famset_begin("node_network_up", FAM_GAUGE, 1, l_device) == 0)
		famset_add(strcmp(lv[5], "up") == 0, ld);
	for (i = 0; i < sizeof(class_attrs) / sizeof(class_attrs[0]); i++) {
		attr(rootfd, dev, class_attrs[i].file, one);
		if (one[0] == '\0')
			continue;
		if (class_attrs[i].hex)
			v = (double)strtoull(one, NULL, 16);
		else if (famset_number(one, &v) != 0)
			continue;
		if (famset_begin(class_attrs[i].family, class_attrs[i].type, 1,
			l_device) == 0)
			famset_add(v, ld);
	}
	/* Mbit/s; -1 when unknown, which node_exporter leaves out. */
	attr(rootfd, dev, "speed", one);
	if (famset_number(one, &v) == 0 && v >= 0 &&
	    famset_begin("node_network_speed_bytes", FAM_GAUGE, 1, l_device) ==
		0)
		famset_add(v * 1000 * 1000 / 8, ld);
}

int
nodefam_netclass(int rootfd, char *buf, size_t size)
{
	struct dirent *de;
	DIR *d;
	int fd;

	(void)buf;
	(void)size;
	if ((fd = openat(rootfd, "sys/class/net",
		 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		(void)close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= NAME_MAX_LEN)
			continue;
		class_device(rootfd, de->d_name);
	}
	(void)closedir(d);
	return 0;
}

/* --- netstat ----------------------------------------------------------- */

static regex_t netstat_re;
static int netstat_re_ok;

static void
netstat_value(const char *proto, const char *key, const char *value)
{
	char name[NAME_MAX_LEN];
	double v;

	if (famset_number(value, &v) != 0 ||
	    (size_t)snprintf(name, sizeof(name), "%s_%s", proto, key) >=
		sizeof(name) ||
	    regexec(&netstat_re, name, 0, NULL, 0) != 0)
		return;
	(void)snprintf(name, sizeof(name), "node_netstat_%s_%s", proto, key);
	famset_single(name, FAM_UNTYPED, v);
}

/* Pairs of lines: "Tcp: RtoAlgorithm RtoMin ..." then "Tcp: 1 200 ...". */
static int
netstat_pairs(int rootfd, const char *path, char *buf, size_t size)
{
	char *p = buf, *keys, *vals, *proto, *pv, *k, *v;

	if (famset_slurp(rootfd, path, buf, size) < 0)
		return -1;
	while ((keys = famset_line(&p)) != NULL &&
	    (vals = famset_line(&p)) != NULL) {
		if ((proto = famset_word(&keys)) == NULL ||
		    (pv = famset_word(&vals)) == NULL ||
		    strcmp(proto, pv) != 0 || strlen(proto) < 2)
			continue;
		proto[strlen(proto) - 1] = '\0'; /* the colon */
		while ((k = famset_word(&keys)) != NULL &&
		    (v = famset_word(&vals)) != NULL)
			netstat_value(proto, k, v);
	}
	return 0;
}

/* "Ip6InOctets  123": the protocol ends at its '6'. */
static void
netstat_snmp6(int rootfd, char *buf, size_t size)
{
	char proto[32], *p = buf, *line, *k, *v, *six;

	if (famset_slurp(rootfd, "proc/net/snmp6", buf, size) < 0)
		return;
	while ((line = famset_line(&p)) != NULL) {
		if ((k = famset_word(&line)) == NULL ||
		    (v = famset_word(&line)) == NULL ||
		    (six = strchr(k, '6')) == NULL ||
		    (size_t)(six - k + 1) >= sizeof(proto))
			continue;
		memcpy(proto, k, (size_t)(six - k + 1));
		proto[six - k + 1] = '\0';
		netstat_value(proto, six + 1, v);
	}
}

int
nodefam_netstat(int rootfd, char *buf, size_t size)
{
	if (!netstat_re_ok) {
		if (regcomp(&netstat_re, NETSTAT_FIELDS,
			REG_EXTENDED | REG_NOSUB) != 0)
			return -1;
		netstat_re_ok = 1;
	}
	if (netstat_pairs(rootfd, "proc/net/netstat", buf, size) != 0)
		return -1;
	if (netstat_pairs(rootfd, "proc/net/snmp", buf, size) != 0)
		return -1;
	netstat_snmp6(rootfd, buf, size);
	return 0;
}

/* --- sockstat ---------------------------------------------------------- */

/* "TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1" (mem in pages). */
static void
sockstat_file(int rootfd, const char *path, char *buf, size_t size)
{
	char name[NAME_MAX_LEN], *p = buf, *line, *proto, *k, *w;
	long page = sysconf(_SC_PAGESIZE);
	size_t n;
	double v;

	if (famset_slurp(rootfd, path, buf, size) < 0)
		return;
	while ((line = famset_line(&p)) != NULL) {
		if ((proto = famset_word(&line)) == NULL ||
		    (n = strlen(proto)) < 2 || proto[n - 1] != ':')
			continue;
		proto[n - 1] = '\0';
		while ((k = famset_word(&line)) != NULL &&
		    (w = famset_word(&line)) != NULL) {
			if (famset_number(w, &v) != 0)
				continue;
			(void)snprintf(name, sizeof(name),
			    "node_sockstat_%s_%s", proto, k);
			famset_single(name, FAM_GAUGE, v);
			if (strcmp(k, "mem") == 0 && page > 0) {
				(void)snprintf(name, sizeof(name),
				    "node_sockstat_%s_mem_bytes", proto);
				famset_single(name, FAM_GAUGE, v * page);
			}
		}
	}
}

int
nodefam_sockstat(int rootfd, char *buf, size_t size)
{
	if (faccessat(rootfd, "proc/net/sockstat", R_OK, 0) != 0)
		return -1;
	sockstat_file(rootfd, "proc/net/sockstat", buf, size);
	sockstat_file(rootfd, "proc/net/sockstat6", buf, size);
	return 0;
}

/* --- softnet, arp, conntrack ------------------------------------------- */

static const char *const l_cpu[] = { "cpu" };

int
nodefam_softnet(int rootfd, char *buf, size_t size)
{
	static const char *const fams[] = {
		"node_softnet_processed_total",
		"node_softnet_dropped_total",
		"node_softnet_times_squeezed_total",
	};
	char cpu[16], *p = buf, *line, *w;
	const char *lv[1];
	double v[3];
	int i, n, ncpu = 0;

	if (famset_slurp(rootfd, "proc/net/softnet_stat", buf, size) < 0)
		return -1;
	lv[0] = cpu;
	while ((line = famset_line(&p)) != NULL) {
		for (n = 0; n < 3 && (w = famset_word(&line)) != NULL; n++)
			v[n] = (double)strtoull(w, NULL, 16);
		if (n != 3)
			continue;
		(void)snprintf(cpu, sizeof(cpu), "%d", ncpu++);
		for (i = 0; i < 3; i++)
			if (famset_begin(fams[i], FAM_COUNTER, 1, l_cpu) == 0)
				famset_add(v[i], lv);
	}
	return 0;
}

int
nodefam_arp(int rootfd, char *buf, size_t size)
{
	/* Few interfaces have neighbours: count them in a small table. */
	char dev[32][NAME_MAX_LEN], *p = buf, *line, *w, *last;
	double count[32];
	const char *lv[1];
	size_t ndev = 0, i;

	if (famset_slurp(rootfd, "proc/net/arp", buf, size) < 0)
		return -1;
	(void)famset_line(&p); /* header */
	while ((line = famset_line(&p)) != NULL) {
		last = NULL;
		while ((w = famset_word(&line)) != NULL)
			last = w;
		if (last == NULL || strlen(last) >= NAME_MAX_LEN)
			continue;
		for (i = 0; i < ndev && strcmp(dev[i], last) != 0; i++)
			;
		if (i == ndev) {
			if (ndev == 32)
				continue;
			(void)strcpy(dev[ndev], last);
			count[ndev++] = 0;
		}
		count[i]++;
	}
	if (ndev > 0 &&
	    famset_begin("node_arp_entries", FAM_GAUGE, 1, l_device) == 0)
		for (i = 0; i < ndev; i++) {
			lv[0] = dev[i];
			famset_add(count[i], lv);
		}
	return 0;
}

int
nodefam_conntrack(int rootfd, char *buf, size_t size)
{
	char *p;
	double v;

	if (famset_slurp(rootfd, "proc/sys/net/netfilter/nf_conntrack_count",
		buf, size) < 0)
		return -1;
	if ((p = strchr(buf, '\n')) != NULL)
		*p = '\0';
	if (famset_number(buf, &v) == 0)
		famset_single("node_nf_conntrack_entries", FAM_GAUGE, v);
	if (famset_slurp(rootfd, "proc/sys/net/netfilter/nf_conntrack_max",
		buf, size) < 0)
		return 0;
	if ((p = strchr(buf, '\n')) != NULL)
		*p = '\0';
	if (famset_number(buf, &v) == 0)
		famset_single("node_nf_conntrack_entries_limit", FAM_GAUGE, v);
	return 0;
}
