/*
 * cli.c - what the client commands share on their command lines (cli.h).
 * No state: each function reads its arguments and nothing else.
 */
#include "cli.h"

#include <string.h>
#include <strings.h>

#include "util.h"

const char *gw_cli_opt_value(int argc, char **argv, int *i, const char *sopt, const char *lopt,
                             int *matched)
{
    const char *a = argv[*i];
    size_t ll = strlen(lopt);
    *matched = 0;
    if (strcmp(a, lopt) == 0 || (sopt && strcmp(a, sopt) == 0)) {
        *matched = 1;
        if (*i + 1 >= argc) return NULL;
        return argv[++*i];
    }
    if (strncmp(a, lopt, ll) == 0 && a[ll] == '=') {
        *matched = 1;
        return a + ll + 1;
    }
    if (sopt && strncmp(a, sopt, 2) == 0 && a[2] != '\0' && a[1] != '-') {
        *matched = 1;
        return a + 2;
    }
    return NULL;
}

char *gw_cli_base_url(const char *s)
{
    size_t n = strlen(s), p;
    if (n >= 7 && strncasecmp(s, "http://", 7) == 0)
        p = 7;
    else if (n >= 8 && strncasecmp(s, "https://", 8) == 0)
        p = 8;
    else
        return NULL;
    if (p == n || s[p] == '/') return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == '?' ||
            s[i] == '#')
            return NULL;
    char *b = gw_strdup(s);
    while (n > p && b[n - 1] == '/') b[--n] = '\0';
    return b;
}
