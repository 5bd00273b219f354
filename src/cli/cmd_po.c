/*
 * cmd_po.c: ccpump import and ccpump po (the stand-in post office).
 */
#include <stdio.h>

#include "cli/commands.h"

int ccp_cmd_import(int argc, char **argv)
{
	fprintf(stderr, "ccpump import: not built yet\n");
	return 1;
}

int ccp_cmd_po(int argc, char **argv)
{
	fprintf(stderr, "ccpump po: not built yet\n");
	return 1;
}
