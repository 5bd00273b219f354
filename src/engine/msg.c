/*
 * msg.c: the out-of-line parts of the state machine in include/ccpump/msg.h.
 */
#include "ccpump/msg.h"

#include "ccpump/log.h"

const char *ccp_msg_state_name(enum ccp_msg_state s)
{
	switch (s) {
	case CCP_MSG_NEW: return "new";
	case CCP_MSG_QUEUED: return "queued";
	case CCP_MSG_DISPATCHING: return "dispatching";
	case CCP_MSG_DELIVERED: return "delivered";
	case CCP_MSG_DEFERRED: return "deferred";
	case CCP_MSG_FAILED: return "failed";
	}
	return "invalid";
}

uint64_t ccp_msg_begin_dispatch(struct ccp_msg *m)
{
	uint64_t w = ccp_msg_load(m);
	if (ccp_unlikely(ccp_msg_word_state(w) != CCP_MSG_QUEUED))
		ccp_panic("message '%s' dequeued in state %s (attempt %u), not queued", m->key,
			  ccp_msg_state_name(ccp_msg_word_state(w)), ccp_msg_word_attempt(w));
	uint64_t d = ccp_msg_word(CCP_MSG_DISPATCHING, ccp_msg_word_attempt(w));
	if (ccp_unlikely(!ccp_msg_cas(m, &w, d)))
		ccp_panic("message '%s' changed under its owner: now %s (attempt %u)", m->key,
			  ccp_msg_state_name(ccp_msg_word_state(w)), ccp_msg_word_attempt(w));
	return d;
}
