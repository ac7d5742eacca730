/* cli.h — command-line front: parses the command and its options. */
#ifndef LT_CLI_H
#define LT_CLI_H

/* Dispatch argv to a command; `run` starts the daemon with a config path. */
int lt_cli_main(int argc, char **argv, int (*run)(const char *config_path));

#endif
