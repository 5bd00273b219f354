/*
 * bounce.h: the non-delivery report of a message that goes to Bad or reached
 * only some of its recipients, and whom it goes to (internal to src/relay).
 *
 * The report is a message of its own (RFC 5322, text/plain, UTF-8), kept as
 * STORE/Bad/NAME.ndr (STORE/Partial/NAME.ndr for a message delivered to some
 * of its recipients only) and, with --bounce-cmd, handed to that program
 * (the local MTA's sendmail) to send: From MAILER-DAEMON@HOST, To the
 * message's return path, Auto-Submitted: auto-replied (RFC 3834), the
 * reason, and the header of the message it reports on.
 *
 * The return path is the Return-Path field the delivering MTA recorded
 * (the SMTP envelope sender); without one, Sender, then From.  A null
 * return path (<>) marks a report or another automatic message: nothing is
 * ever sent about it, so two systems cannot bounce reports at each other.
 */
#ifndef CCPUMP_RELAY_BOUNCE_H
#define CCPUMP_RELAY_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>

#include "ccpump/ccm.h"

enum ccp_bounce_to {
	CCP_BOUNCE_TO_ADDR, /* an address to send the report to */
	CCP_BOUNCE_TO_NULL, /* a null return path: never reported to */
	CCP_BOUNCE_TO_NONE, /* no usable address in the header */
	/* An automatic reply (FIELD "Auto-Submitted"), a report itself (FIELD
	 * "Content-Type": multipart/report, RFC 6522), or a return path that
	 * is a MAILER-DAEMON (in ADDR): never reported to, since a report
	 * could start a loop between two systems. */
	CCP_BOUNCE_TO_AUTO,
};

/*
 * Finds the return path in the header block at the start of HDR (LEN
 * octets; it may run on into the body, which is not read).  For
 * CCP_BOUNCE_TO_ADDR the address, an addr-spec without angle brackets or
 * comments, is in ADDR.  An address that could be taken for a program's
 * option (a leading '-') or holds spaces, controls or quotes is not
 * usable.  *FIELD names the field it came from ("Return-Path", "Sender",
 * "From", or for CCP_BOUNCE_TO_AUTO "Auto-Submitted" or "Content-Type"),
 * or is NULL.
 */
enum ccp_bounce_to ccp_bounce_recipient(const char *hdr, size_t len, char *addr, size_t cap,
					const char **field);

/* How long the header quoted in a report may be, and the most of a spool
 * file read to find it: whole for any header a mail system passes on (a
 * long chain of Received, DKIM and ARC fields runs past 8 KiB), so that an
 * Auto-Submitted or Return-Path field far down is seen. */
#define CCP_BOUNCE_HEADER_MAX 65536

/* What a report says became of the message. */
enum ccp_bounce_kind {
	CCP_BOUNCE_UNDELIVERED, /* delivered to no one: the message is in Bad */
	CCP_BOUNCE_PARTIAL,     /* delivered, but not to the recipients REASON names */
};

/*
 * Appends the report of kind KIND on spool file KEY to B: FROM its From
 * address (its domain also the Message-ID's), TO the recipient (NULL: no
 * To field, for a report that is only kept), REASON, and the header of the
 * message found at the start of HDR (LEN octets; 0: none quoted).  The
 * report is a Unix mail file: its lines end in LF, as sendmail-like
 * programs read their input and a Maildir holds mail (the quoted header's
 * CRLFs become LFs too).
 */
void ccp_bounce_format(struct ccp_ccm_buf *b, enum ccp_bounce_kind kind, const char *from,
		       const char *to, const char *key, const char *reason, const char *hdr,
		       size_t len);

/* Whether A is an address a program may be handed as one argument: a
 * local part and a domain of printable ASCII without specials or spaces,
 * no leading '-'. */
bool ccp_bounce_address_usable(const char *a);

/* The To address of a report ccp_bounce_format() made, read from FD
 * (from its start), into ADDR: false when it has none that is usable
 * (errno 0), or when FD could not be read (errno says why). */
bool ccp_bounce_report_to(int fd, char *addr, size_t cap);

/* MAILER-DAEMON@ this host's name (its full name where the resolver knows
 * one), the reports' From address by default. */
void ccp_bounce_default_from(char *out, size_t cap);

#endif
