/*
 * commands.h - the subcommands of the standby binary.
 * Each returns the process exit status: 0 ok, 1 failure, 2 usage error.
 */
#ifndef STANDBY_COMMANDS_H
#define STANDBY_COMMANDS_H

int cmd_inspect(int argc, char **argv);
int cmd_receive(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_primary(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_netbuf(int argc, char **argv);

#endif
