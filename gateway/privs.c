/*
 * privs.c - [server] user and group: whom the cache belongs to, and the
 * one-way drop from root to that user (privs.h).
 *
 * Invariants: the drop happens once, on the main thread, before any other
 * thread exists, and in the order that cannot be undone half way:
 * supplementary groups, then the group, then the user; afterwards
 * setuid(0) must fail, or the process stops.  Nothing here runs after the
 * workers start.
 */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "conf.h"
#include "util.h"

int gw_privs_plan(const struct gw_conf *conf, int warn, struct gw_privs *p, char *err,
                  size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->uid = (unsigned)geteuid();
    p->gid = (unsigned)getegid();
    if (conf->run_user[0] == '\0') {
        if (warn && p->uid == 0)
            gw_warn("main", "running as root: set [server] user so that the gateway drops to "
                    "it once its listeners are bound and its cache is open");
        return 0;
    }
    struct passwd *pw = getpwnam(conf->run_user);
    if (pw == NULL) {
        snprintf(err, errlen, "%s: [server] user %s: no such user", conf->path, conf->run_user);
        return -1;
    }
    unsigned gid = (unsigned)pw->pw_gid;
    if (conf->run_group[0] != '\0') {
        struct group *gr = getgrnam(conf->run_group);
        if (gr == NULL) {
            snprintf(err, errlen, "%s: [server] group %s: no such group", conf->path,
                     conf->run_group);
            return -1;
        }
        gid = (unsigned)gr->gr_gid;
    }
    if (p->uid != 0) {
        if (warn && (unsigned)pw->pw_uid != p->uid)
            gw_warn("main", "[server] user = %s ignored: not started as root (running as "
                    "uid %u)", conf->run_user, p->uid);
        return 0;
    }
    if (pw->pw_uid == 0) return 0;      /* user = root: nothing to drop */
    p->drop = 1;
    p->uid = (unsigned)pw->pw_uid;
    p->gid = gid;
    snprintf(p->user, sizeof(p->user), "%s", conf->run_user);
    return 0;
}

void gw_privs_cache_owner(const struct gw_privs *p, struct gw_cache_options *o)
{
    o->hand_over = p->drop;
    o->uid = p->uid;
    o->gid = p->gid;
}

void gw_privs_give_fd(const struct gw_privs *p, int fd)
{
    struct stat st;
    if (!p->drop || fd < 0 || fstat(fd, &st) != 0) return;
    if (!S_ISREG(st.st_mode) || st.st_uid != 0) return;
    if (fchown(fd, p->uid, p->gid) != 0)
        gw_warn("main", "cannot give the access log to %s: %s; SIGHUP will not reopen it",
                p->user, strerror(errno));
}

int gw_privs_drop(const struct gw_privs *p, const char *cache_dir, char *err, size_t errlen)
{
    if (!p->drop) return 0;
    if (initgroups(p->user, p->gid) != 0 || setgid(p->gid) != 0 || setuid(p->uid) != 0) {
        snprintf(err, errlen, "cannot become user %s (uid %u, gid %u): %s", p->user, p->uid,
                 p->gid, strerror(errno));
        return -1;
    }
    int regained = setuid(0) == 0;
    gw_assert(!regained && getuid() == p->uid && geteuid() == p->uid);
    /* As nginx does after its setuid: a crash still leaves a core (and
     * leak checkers can still inspect the process). */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    if (cache_dir != NULL && cache_dir[0] != '\0' && access(cache_dir, R_OK | W_OK | X_OK) != 0) {
        snprintf(err, errlen, "[cache] dir %s: not reachable as user %s: %s (every directory "
                 "above it must let that user through)", cache_dir, p->user, strerror(errno));
        return -1;
    }
    gw_info("main", "running as user %s (uid %u, gid %u)", p->user, p->uid, p->gid);
    return 0;
}
