/*
 * main.c - the command line, start-up, signals and graceful shutdown.
 *
 *   swiftgate serve -c FILE          run the gateway
 *   swiftgate check-config -c FILE [--connect]
 *                                    validate FILE, print the effective config;
 *                                    with --connect, authenticate and HEAD the
 *                                    container too (connect.c)
 *   swiftgate fsck -c FILE [--repair]  re-hash the cache offline
 *   swiftgate warm [-g URL] [FILE]   fill a gateway's cache from a list (warm.c)
 *   swiftgate healthcheck [URL]      exit 0 when /healthz says 200 (healthcheck.c)
 *   swiftgate purge -g URL UUID...   purge on every gateway named (purge.c)
 *   swiftgate --version | --help
 *
 * Every command answers -h or --help on stdout with exit status 0.
 *
 * The main thread runs a loop of its own that only handles signals: the
 * workers (server.c) do all the serving.  SIGTERM or SIGINT drains in two
 * steps.  First, for [server] drain_delay, /healthz says 503 while every
 * other request is served as usual and the listeners stay open, so that a
 * balancer polling /healthz (on a new connection or one it keeps alive)
 * takes this gateway out while it still answers.  Then the listeners
 * close, idle connections close, and requests in flight get
 * shutdown_grace to finish; whatever is left then is closed.  The exit
 * status is 0 either way.  A second SIGTERM/SIGINT exits at once (status
 * 1).  SIGHUP reopens the access log and reloads the configuration
 * (reload.c: what can change takes effect for new requests, a bad file
 * changes nothing, no connection is dropped).  Under a service manager that set
 * NOTIFY_SOCKET, "READY=1" is sent once the listeners are bound and the
 * workers run, "STOPPING=1" when the drain begins (notify.h).  READY=1
 * does not wait for Swift's first token (the gateway answers, /healthz says
 * why it is not ready, and a Swift that is down must not get a gateway that
 * would recover killed by its start timeout): the auth state goes in
 * "STATUS=" lines instead, with READY=1 and then whenever it changes
 * (looked at once a second).  Exit status otherwise: 1 on a
 * runtime failure, 2 on bad usage or configuration, and 2 when the cache
 * directory holds a link or another user's file where the cache's own
 * should be (nothing is removed then).
 *
 * serve and fsck run with umask 077 (the cache and the access log are
 * nobody else's business) and, started as root with [server] user, drop
 * to that user once the listeners, the access log and the cache are open
 * (privs.h), before any worker thread starts.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "cache.h"
#include "conf.h"
#include "connect.h"
#include "healthcheck.h"
#include "notify.h"
#include "privs.h"
#include "purge.h"
#include "server.h"
#include "swift.h"
#include "util.h"
#include "warm.h"
#include "backup.h"

struct gw_main {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t delay;           /* drain_delay: /healthz 503, still accepting */
    uv_timer_t grace;           /* shutdown_grace: then force-close */
    uv_timer_t status;          /* STATUS= for the service manager, each second */
    char status_sent[GW_SWIFT_REASON_MAX + 32];
    struct gw_server srv;
    int stopping;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: swiftgate serve -c FILE          run the gateway\n"
            "       swiftgate check-config -c FILE [--connect]\n"
            "                                        check FILE and print the effective config;\n"
            "                                        --connect: and that it reaches Swift\n"
            "       swiftgate fsck -c FILE [--repair]\n"
            "                                        re-hash the cache; remove what is wrong\n"
            "       swiftgate warm [-g GATEWAY_URL] [-j N] [--from-api URL] [FILE|-]\n"
            "                                        fill a gateway's cache from a list of\n"
            "                                        fractals (swiftgate warm --help)\n"
            "       swiftgate backup --from-api URL (-c FILE | -g GATEWAY_URL) [-j N]\n"
            "                                        copy the Fractals API's images into\n"
            "                                        Swift (swiftgate backup --help)\n"
            "       swiftgate healthcheck [-c FILE] [-t DURATION] [URL]\n"
            "                                        exit 0 when /healthz answers 200\n"
            "       swiftgate purge -g ADMIN_URL [-g ADMIN_URL...] [--soft] UUID...\n"
            "                                        purge fractals on every gateway named\n"
            "       swiftgate --version              print the version\n"
            "       swiftgate --help                 print this help\n"
            "\n"
            "Every command answers --help.  Every config key can be overridden by\n"
            "SWIFTGATE_<SECTION>_<KEY>, e.g. SWIFTGATE_SWIFT_KEY.\n");
}

/* What `swiftgate CMD --help` prints for the commands main.c runs itself. */
static const struct {
    const char *cmd;
    const char *text;
} cmd_help[] = {
    {"serve",
     "usage: swiftgate serve -c FILE\n"
     "\n"
     "Run the gateway with the configuration in FILE (and SWIFTGATE_<SECTION>_<KEY>\n"
     "from the environment).  SIGTERM or SIGINT drains and exits 0; SIGHUP reopens\n"
     "the access log and reloads FILE (a bad FILE changes nothing; keys that need\n"
     "a restart are reported and kept).  Exit status 1 on a runtime failure, 2 on\n"
     "a bad FILE or an unsafe cache directory.\n"
     "\n"
     "  -c, --config FILE   the configuration file (required)\n"
     "  -h, --help          this help\n"},
    {"check-config",
     "usage: swiftgate check-config -c FILE [--connect]\n"
     "\n"
     "Check FILE and the environment as serve would, and print the configuration\n"
     "in effect (secrets hidden).  With --connect, then authenticate once with\n"
     "[swift]'s credentials and HEAD the container with the token, and print what\n"
     "was done.  Exit status 0 when all is well, 2 when FILE is not valid, 1 when\n"
     "--connect failed (wrong credentials, auth or Swift unreachable, TLS, no such\n"
     "container: the reason is printed).\n"
     "\n"
     "  -c, --config FILE   the configuration file (required)\n"
     "      --connect       authenticate and HEAD the container (each request\n"
     "                      bounded by [swift] connect_timeout and first_byte_timeout)\n"
     "  -h, --help          this help\n"},
    {"fsck",
     "usage: swiftgate fsck -c FILE [--repair]\n"
     "\n"
     "Offline: re-hash every blob of FILE's cache against its entry and report\n"
     "what is wrong.  Exit status 0 when the cache is clean, 1 when something was\n"
     "wrong (removed with --repair), 2 on bad usage, a bad FILE or an unsafe\n"
     "cache directory.\n"
     "\n"
     "  -c, --config FILE   the configuration file (required)\n"
     "      --repair        remove the bad entries and orphan files\n"
     "  -h, --help          this help\n"},
};

/* 1 (after printing the command's help) when argv[first..] asks for it. */
static int asked_help(int argc, char **argv, int first, const char *cmd)
{
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "-h") != 0 && strcmp(argv[i], "--help") != 0) continue;
        for (size_t k = 0; k < sizeof(cmd_help) / sizeof(cmd_help[0]); k++)
            if (strcmp(cmd_help[k].cmd, cmd) == 0) fputs(cmd_help[k].text, stdout);
        return 1;
    }
    return 0;
}

/*
 * -c FILE from argv[first..], and whether `flag` (NULL: none allowed) was
 * given, in *flag_seen; NULL and a message when FILE is missing or an
 * argument is unknown.
 */
static const char *conf_arg(int argc, char **argv, int first, const char *cmd,
                            const char *flag, int *flag_seen)
{
    const char *path = NULL;
    for (int i = first; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (flag != NULL && strcmp(argv[i], flag) == 0) {
            *flag_seen = 1;
        } else {
            fprintf(stderr, "swiftgate %s: unexpected argument '%s'\n", cmd, argv[i]);
            return NULL;
        }
    }
    if (path == NULL) fprintf(stderr, "swiftgate %s: -c FILE is required\n", cmd);
    return path;
}

static int load_conf(struct gw_conf *conf, const char *path)
{
    char err[1024];
    if (gw_conf_load(conf, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "swiftgate: %s\n", err);
        return -1;
    }
    return 0;
}

/* Descriptors kept apart from client connections: Swift's sockets, fills'
 * temp files, open blobs (blobfd.c keeps up to 1,024 idle), the index, logs. */
#define NOFILE_RESERVE 1280

/*
 * Every connection is a descriptor: raise the soft RLIMIT_NOFILE to the
 * hard limit, as nginx's worker_rlimit_nofile would be set.  Returns the
 * soft limit now (0 if unknown or unlimited), and warns when it leaves
 * less room than max_connections needs.
 */
static uint64_t raise_nofile(const struct gw_conf *conf, int warn)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY) return 0;
    if (warn && rl.rlim_cur < (rlim_t)conf->max_connections + NOFILE_RESERVE)
        gw_warn("main", "open files limit %llu leaves room for about %llu connections, "
                "below max_connections %llu; past it new connections wait",
                (unsigned long long)rl.rlim_cur,
                (unsigned long long)(rl.rlim_cur > NOFILE_RESERVE
                                         ? rl.rlim_cur - NOFILE_RESERVE : 0),
                (unsigned long long)conf->max_connections);
    return (uint64_t)rl.rlim_cur;
}

static int cmd_check_config(int argc, char **argv)
{
    if (asked_help(argc, argv, 2, "check-config")) return 0;
    int connect = 0;
    const char *path = conf_arg(argc, argv, 2, "check-config", "--connect", &connect);
    if (path == NULL) return 2;
    struct gw_conf conf;
    int rc = load_conf(&conf, path);
    if (rc == 0) {
        gw_conf_dump(&conf);
        uint64_t nofile = raise_nofile(&conf, 0);
        if (nofile > 0)
            printf("# open files limit %llu (raised to the hard limit): room for about "
                   "%llu connections; max_connections = %llu\n",
                   (unsigned long long)nofile,
                   (unsigned long long)(nofile > NOFILE_RESERVE ? nofile - NOFILE_RESERVE : 0),
                   (unsigned long long)conf.max_connections);
        fprintf(stderr, "swiftgate: %s: configuration ok\n", path);
    }
    if (rc == 0 && connect) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fprintf(stderr, "swiftgate check-config: curl_global_init failed\n");
            gw_conf_free(&conf);
            return 1;
        }
        int bad = gw_connect_check(&conf);
        curl_global_cleanup();
        gw_conf_free(&conf);
        return bad ? 1 : 0;
    }
    gw_conf_free(&conf);
    return rc == 0 ? 0 : 2;
}

/* ---- fsck ---- */

static void fsck_report(void *ud, const char *line)
{
    (void)ud;
    printf("%s\n", line);
}

/*
 * Re-hash every blob of the cache against its entry, offline.  Exit 0 only
 * when nothing is wrong, 1 when something was (removed with --repair), 2
 * on bad usage or configuration.
 */
static int cmd_fsck(int argc, char **argv)
{
    if (asked_help(argc, argv, 2, "fsck")) return 0;
    int repair = 0;
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--repair") == 0) {
            repair = 1;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                   i + 1 < argc) {
            path = argv[++i];
        } else {
            fprintf(stderr, "swiftgate fsck: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "swiftgate fsck: -c FILE is required\n");
        return 2;
    }
    struct gw_conf conf;
    if (load_conf(&conf, path) != 0) {
        gw_conf_free(&conf);
        return 2;
    }
    if (conf.dir[0] == '\0') {
        fprintf(stderr, "swiftgate fsck: %s: [cache] dir is empty: no cache to check\n", path);
        gw_conf_free(&conf);
        return 2;
    }
    umask(077);
    struct gw_privs privs;
    char err[512];
    if (gw_privs_plan(&conf, 0, &privs, err, sizeof(err)) != 0) {
        fprintf(stderr, "swiftgate fsck: %s\n", err);
        gw_conf_free(&conf);
        return 2;
    }
    struct gw_cache_options co = {
        .dir = conf.dir,
        .max_size = conf.max_size,
        .max_entries = conf.max_entries,
        .index_size = conf.index_size,
    };
    gw_privs_cache_owner(&privs, &co);
    struct gw_cache *cache;
    int rc = gw_cache_open_nosweep(&cache, &co, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "swiftgate fsck: %s\n", err);
        gw_conf_free(&conf);
        return rc == GW_EUNSAFE ? 2 : 1;
    }
    /* Checked and repaired as the user serve runs as, like the files it made. */
    if (gw_privs_drop(&privs, conf.dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "swiftgate fsck: %s\n", err);
        gw_cache_close(cache);
        gw_conf_free(&conf);
        return 2;
    }
    struct gw_cache_fsck_result res;
    rc = gw_cache_fsck(cache, repair, fsck_report, NULL, &res);
    gw_cache_close(cache);
    if (rc != 0) {
        fprintf(stderr, "swiftgate fsck: %s: %s\n", conf.dir, gw_strerror(rc));
        gw_conf_free(&conf);
        return 1;
    }
    printf("%s: %llu entries checked, %llu bad, %llu orphan files%s\n", conf.dir,
           (unsigned long long)res.entries, (unsigned long long)res.bad,
           (unsigned long long)res.orphans,
           repair ? (res.repaired ? ", repaired" : "") : "");
    gw_conf_free(&conf);
    return res.bad == 0 && res.orphans == 0 ? 0 : 1;
}

/* ---- serve ---- */

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_all_stopped(struct gw_server *srv)
{
    struct gw_main *m = (struct gw_main *)((char *)srv - offsetof(struct gw_main, srv));
    uv_close((uv_handle_t *)&m->sigterm, on_closed);
    uv_close((uv_handle_t *)&m->sigint, on_closed);
    uv_close((uv_handle_t *)&m->sighup, on_closed);
    uv_close((uv_handle_t *)&m->delay, on_closed);
    uv_close((uv_handle_t *)&m->grace, on_closed);
    uv_close((uv_handle_t *)&m->status, on_closed);
    uv_close((uv_handle_t *)&m->srv.worker_exit, on_closed);
}

/*
 * Tell the service manager the auth state ("serving", or "not ready: " and
 * why) with `first` (READY=1) or when it changed.
 */
static void notify_status(struct gw_main *m, const char *first)
{
    char why[GW_SWIFT_REASON_MAX], state[sizeof(m->status_sent)], msg[sizeof(state) + 32];
    unsigned after;
    if (gw_swift_ready(m->srv.swift, why, sizeof(why), &after))
        snprintf(state, sizeof(state), "STATUS=serving");
    else
        snprintf(state, sizeof(state), "STATUS=not ready: %s", why);
    if (first == NULL && strcmp(state, m->status_sent) == 0) return;
    memcpy(m->status_sent, state, sizeof(state));
    snprintf(msg, sizeof(msg), "%s%s%s", first ? first : "", first ? "\n" : "", state);
    int rc = gw_notify(msg);
    if (rc < 0 && first != NULL)
        gw_warn("main", "cannot tell the service manager we are ready: %s", strerror(-rc));
}

static void on_status(uv_timer_t *t)
{
    notify_status(t->data, NULL);
}

static void on_grace(uv_timer_t *t)
{
    struct gw_main *m = t->data;
    gw_warn("main", "shutdown grace period over: closing the remaining connections");
    gw_server_force_close(&m->srv);
}

/* The end of drain_delay (or the signal, without one): stop accepting. */
static void stop_accepting(struct gw_main *m)
{
    gw_info("main", "closing the listeners; requests in flight get %llu ms",
            (unsigned long long)m->srv.conf->shutdown_grace_ms);
    gw_server_stop_accepting(&m->srv);
    uv_timer_start(&m->grace, on_grace, m->srv.conf->shutdown_grace_ms, 0);
    /* The grace timer alone must not keep the loop alive. */
    uv_unref((uv_handle_t *)&m->grace);
}

static void on_delay(uv_timer_t *t)
{
    stop_accepting(t->data);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    struct gw_main *m = s->data;
    if (m->stopping) {
        gw_warn("main", "second %s: exiting now", strsignal(signum));
        _exit(1);
    }
    m->stopping = 1;
    const struct gw_conf *conf = m->srv.conf;
    gw_info("main", "%s: draining (/healthz 503 for %llu ms, then grace %llu ms)",
            strsignal(signum), (unsigned long long)conf->drain_delay_ms,
            (unsigned long long)conf->shutdown_grace_ms);
    gw_server_drain(&m->srv);
    uv_timer_stop(&m->status);
    gw_notify("STOPPING=1");
    if (conf->drain_delay_ms > 0)
        uv_timer_start(&m->delay, on_delay, conf->drain_delay_ms, 0);
    else
        stop_accepting(m);
}

static void on_hup(uv_signal_t *s, int signum)
{
    (void)signum;
    struct gw_main *m = s->data;
    gw_server_reopen_logs(&m->srv);
    gw_server_reload(&m->srv);
}

static int serve(struct gw_conf *conf, const struct gw_privs *privs);

static int cmd_serve(int argc, char **argv)
{
    if (asked_help(argc, argv, 2, "serve")) return 0;
    const char *path = conf_arg(argc, argv, 2, "serve", NULL, NULL);
    if (path == NULL) return 2;
    struct gw_conf conf;
    if (load_conf(&conf, path) != 0) {
        gw_conf_free(&conf);
        return 2;
    }
    gw_log_level = gw_log_level_parse(conf.log_level);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(&conf, 1);
    umask(077);
    struct gw_privs privs;
    char err[512];
    if (gw_privs_plan(&conf, 1, &privs, err, sizeof(err)) != 0) {
        fprintf(stderr, "swiftgate: %s\n", err);
        gw_conf_free(&conf);
        return 2;
    }
    return serve(&conf, &privs);
}

/*
 * Start serving conf as privs says: bind, open, drop, start the workers,
 * then run until every worker has stopped.  Owns conf from here on.
 */
static int serve(struct gw_conf *conf, const struct gw_privs *privs)
{
    char err[512];
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "swiftgate: curl_global_init failed\n");
        gw_conf_free(conf);
        return 1;
    }

    static struct gw_main m;
    memset(&m, 0, sizeof(m));
    int rc = uv_loop_init(&m.loop);
    if (rc != 0) {
        fprintf(stderr, "swiftgate: uv_loop_init: %s\n", uv_strerror(rc));
        curl_global_cleanup();
        gw_conf_free(conf);
        return 1;
    }
    rc = gw_server_init(&m.srv, conf, privs, &m.loop, err, sizeof(err));
    if (rc == 0) {
        gw_privs_give_fd(privs, m.srv.access_fd);
        if (gw_privs_drop(privs, conf->dir, err, sizeof(err)) != 0) {
            gw_server_destroy(&m.srv);
            rc = GW_ECONF;      /* the user cannot reach the cache: fix the config */
        }
    }
    if (rc != 0) {
        fprintf(stderr, "swiftgate: %s\n", err);
        uv_run(&m.loop, UV_RUN_DEFAULT); /* close callbacks */
        uv_loop_close(&m.loop);
        curl_global_cleanup();
        gw_conf_free(conf);
        return rc == GW_EUNSAFE || rc == GW_ECONF ? 2 : 1;
    }
    m.srv.on_stopped = on_all_stopped;
    uv_signal_init(&m.loop, &m.sigterm);
    uv_signal_init(&m.loop, &m.sigint);
    uv_signal_init(&m.loop, &m.sighup);
    uv_timer_init(&m.loop, &m.delay);
    uv_timer_init(&m.loop, &m.grace);
    uv_timer_init(&m.loop, &m.status);
    m.sigterm.data = m.sigint.data = m.sighup.data = m.grace.data = m.delay.data = &m;
    m.status.data = &m;
    uv_signal_start(&m.sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&m.sigint, on_stop_signal, SIGINT);
    uv_signal_start(&m.sighup, on_hup, SIGHUP);

    rc = gw_server_start(&m.srv);
    if (rc != 0) {
        fprintf(stderr, "swiftgate: cannot start workers: %s\n", uv_strerror(rc));
        return 1;
    }
    char addr[128], admin[128] = "off";
    gw_server_address(&m.srv, 0, addr, sizeof(addr));
    if (m.srv.admin_fd >= 0) gw_server_address(&m.srv, 1, admin, sizeof(admin));
    gw_log_(GW_LOG_INFO, "main",
            "swiftgate " GW_VERSION " ready listen=%s admin=%s workers=%d container=%s", addr,
            admin, m.srv.nworkers, conf->container);
    if (getenv("NOTIFY_SOCKET") != NULL) {
        notify_status(&m, "READY=1");
        uv_timer_start(&m.status, on_status, 1000, 1000);
        uv_unref((uv_handle_t *)&m.status);  /* it alone keeps nothing alive */
    }

    uv_run(&m.loop, UV_RUN_DEFAULT);
    gw_server_destroy(&m.srv);
    uv_run(&m.loop, UV_RUN_DEFAULT); /* close callbacks */
    rc = uv_loop_close(&m.loop);
    if (rc != 0) gw_error("main", "loop did not close: %s", uv_strerror(rc));
    gw_assert(rc == 0);
    curl_global_cleanup();
    gw_info("main", "stopped");
    gw_conf_free(conf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("swiftgate %s\n", GW_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc, argv);
    if (strcmp(cmd, "check-config") == 0) return cmd_check_config(argc, argv);
    if (strcmp(cmd, "fsck") == 0) return cmd_fsck(argc, argv);
    if (strcmp(cmd, "warm") == 0) return gw_warm_main(argc - 1, argv + 1);
    if (strcmp(cmd, "backup") == 0) return gw_backup_main(argc - 1, argv + 1);
    if (strcmp(cmd, "healthcheck") == 0) return gw_healthcheck_main(argc - 1, argv + 1);
    if (strcmp(cmd, "purge") == 0) return gw_purge_main(argc - 1, argv + 1);
    fprintf(stderr, "swiftgate: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
