/*
 * json.h - small helpers to print JSON.
 */
#ifndef STANDBY_UTIL_JSON_H
#define STANDBY_UTIL_JSON_H

#include <stdio.h>
#include <stddef.h>

/* Print s as a JSON string (null when s is NULL). */
void sb_json_string(FILE *f, const char *s);
/* Escape s into buf as a JSON string with quotes; returns the length, truncating safely. */
size_t sb_json_escape(char *buf, size_t len, const char *s);

#endif
