/*
 * privs.h - who the gateway runs as: [server] user and group.
 *
 * Started as root with user set, `serve` binds its listeners, opens the
 * access log and opens the cache as root, handing the cache over to that
 * user (what root owns in it becomes the user's), then drops to the user
 * for good (initgroups, setgid, setuid) before any worker starts; `fsck`
 * opens the cache the same way and drops before it checks anything.
 * Started as root without user, the gateway stays root and warns once.
 * Started as anyone else, user is ignored (with a warning, unless it
 * names that user): only root can change who it is, as with nginx.
 */
#ifndef GW_PRIVS_H
#define GW_PRIVS_H

#include <stddef.h>

struct gw_conf;
struct gw_cache_options;

struct gw_privs {
    int drop;                   /* root, and a user other than root to become */
    unsigned uid, gid;          /* whom the cache belongs to: the user, or ourselves */
    char user[256];             /* the user's name when drop is set */
};

/*
 * Decide from conf and from who the process is.  With warn, log the
 * warnings above (each once: call this once per process).  0, or -1 with
 * a message in err (the user or group is gone since the config was read).
 */
int gw_privs_plan(const struct gw_conf *conf, int warn, struct gw_privs *p, char *err,
                  size_t errlen);

/* Set o's owner fields: the cache must be p's user's, handed over if root has it. */
void gw_privs_cache_owner(const struct gw_privs *p, struct gw_cache_options *o);

/*
 * Before the drop: the plain file open on fd (the access log) becomes the
 * user's if root owns it, so that SIGHUP can reopen it after the drop.
 * Anything else is left alone.  A no-op without a drop.
 */
void gw_privs_give_fd(const struct gw_privs *p, int fd);

/*
 * Become p's user for good: supplementary groups, group, user; then check
 * that root cannot be regained and that cache_dir (NULL or "": none) can
 * be reached.  A no-op without a drop.  0, or -1 with a message in err.
 */
int gw_privs_drop(const struct gw_privs *p, const char *cache_dir, char *err, size_t errlen);

#endif
