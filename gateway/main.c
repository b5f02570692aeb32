/*
 * main.c - the command line, start-up, signals and graceful shutdown.
 *
 *   swiftgate serve -c FILE          run the gateway
 *   swiftgate check-config -c FILE   validate FILE, print the effective config
 *   swiftgate --version | --help
 *
 * The main thread runs a loop of its own that only handles signals: the
 * workers (server.c) do all the serving.  SIGTERM or SIGINT drains: the
 * listeners close, /healthz says 503, idle connections close, requests in
 * flight finish, for at most [server] shutdown_grace; then whatever is left
 * is closed.  A second SIGTERM/SIGINT exits at once.  SIGHUP reopens the
 * access log.  Exit status: 0 after a clean stop, 1 on a runtime failure,
 * 2 on bad usage or configuration.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "conf.h"
#include "server.h"
#include "util.h"

struct gw_main {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t grace;
    struct gw_server srv;
    int stopping;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: swiftgate serve -c FILE          run the gateway\n"
            "       swiftgate check-config -c FILE   check FILE and print the effective config\n"
            "       swiftgate --version              print the version\n"
            "       swiftgate --help                 print this help\n"
            "\n"
            "Every config key can be overridden by SWIFTGATE_<SECTION>_<KEY>,\n"
            "e.g. SWIFTGATE_SWIFT_KEY.\n");
}

/* -c FILE from argv[first..]; NULL and a message when it is missing or unknown. */
static const char *conf_arg(int argc, char **argv, int first, const char *cmd)
{
    const char *path = NULL;
    for (int i = first; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            path = argv[++i];
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

static int cmd_check_config(int argc, char **argv)
{
    const char *path = conf_arg(argc, argv, 2, "check-config");
    if (path == NULL) return 2;
    struct gw_conf conf;
    int rc = load_conf(&conf, path);
    if (rc == 0) {
        gw_conf_dump(&conf);
        fprintf(stderr, "swiftgate: %s: configuration ok\n", path);
    }
    gw_conf_free(&conf);
    return rc == 0 ? 0 : 2;
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
    uv_close((uv_handle_t *)&m->grace, on_closed);
    uv_close((uv_handle_t *)&m->srv.worker_exit, on_closed);
}

static void on_grace(uv_timer_t *t)
{
    struct gw_main *m = t->data;
    gw_warn("main", "shutdown grace period over: closing the remaining connections");
    gw_server_force_close(&m->srv);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    struct gw_main *m = s->data;
    if (m->stopping) {
        gw_warn("main", "second %s: exiting now", strsignal(signum));
        _exit(1);
    }
    m->stopping = 1;
    gw_info("main", "%s: draining (grace %llu ms)", strsignal(signum),
            (unsigned long long)m->srv.conf->shutdown_grace_ms);
    gw_server_drain(&m->srv);
    uv_timer_start(&m->grace, on_grace, m->srv.conf->shutdown_grace_ms, 0);
    /* The grace timer alone must not keep the loop alive. */
    uv_unref((uv_handle_t *)&m->grace);
}

static void on_hup(uv_signal_t *s, int signum)
{
    (void)signum;
    struct gw_main *m = s->data;
    gw_server_reopen_logs(&m->srv);
}

static int cmd_serve(int argc, char **argv)
{
    const char *path = conf_arg(argc, argv, 2, "serve");
    if (path == NULL) return 2;
    struct gw_conf conf;
    if (load_conf(&conf, path) != 0) {
        gw_conf_free(&conf);
        return 2;
    }
    gw_log_level = gw_log_level_parse(conf.log_level);
    if (conf.auth_version == GW_AUTH_V3) {
        fprintf(stderr, "swiftgate: %s: auth_version = 3 (Keystone) is not supported by this "
                        "build yet; use 1 or static\n", path);
        gw_conf_free(&conf);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "swiftgate: curl_global_init failed\n");
        gw_conf_free(&conf);
        return 1;
    }

    static struct gw_main m;
    memset(&m, 0, sizeof(m));
    uv_loop_init(&m.loop);
    char err[512];
    int rc = gw_server_init(&m.srv, &conf, &m.loop, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "swiftgate: %s\n", err);
        return 1;
    }
    m.srv.on_stopped = on_all_stopped;
    uv_signal_init(&m.loop, &m.sigterm);
    uv_signal_init(&m.loop, &m.sigint);
    uv_signal_init(&m.loop, &m.sighup);
    uv_timer_init(&m.loop, &m.grace);
    m.sigterm.data = m.sigint.data = m.sighup.data = m.grace.data = &m;
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
            admin, m.srv.nworkers, conf.container);

    uv_run(&m.loop, UV_RUN_DEFAULT);
    gw_server_destroy(&m.srv);
    uv_run(&m.loop, UV_RUN_DEFAULT); /* close callbacks */
    rc = uv_loop_close(&m.loop);
    if (rc != 0) gw_error("main", "loop did not close: %s", uv_strerror(rc));
    gw_assert(rc == 0);
    curl_global_cleanup();
    gw_info("main", "stopped");
    gw_conf_free(&conf);
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
    fprintf(stderr, "swiftgate: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
