/*
 * report.c: the report of `ccpump bench`, as a table or as one JSON object.
 */
#include <inttypes.h>

#include "ccpump/synth.h"

/* Notifications handed to the pollers per message: under --dup-factor,
 * by the copies that came after a delivery and were not sent (stale). */
static double per_message(const struct ccp_synth_report *r)
{
	return r->messages ? (double)r->notifications / (double)r->messages : 0.0;
}

static const char *yesno(bool b)
{
	return b ? "yes" : "NO";
}

void ccp_synth_print_table(FILE *out, const struct ccp_synth_report *r)
{
	const struct ccp_pump_config *p = &r->cfg.pump;
	char wait[CCP_PUMP_WAIT_NAME_MAX];
	fprintf(out, "ccpump bench: mode %s, %u pollers, %u dispatchers, ring %" PRIu64
		     ", batch %u, wait %s, dup factor %u, payload %zu B\n",
		ccp_claim_mode_name(p->mode), p->pollers, p->dispatchers, p->ring_size, p->batch,
		ccp_pump_wait_name(p, wait), r->cfg.dup_factor, r->cfg.payload);
	fprintf(out, "  messages            %14" PRIu64 "\n", r->messages);
	if (r->ended == CCP_SYNTH_END_SIGNAL)
		fprintf(out, "  ended                   by a signal   (cut short: not a full run)\n");
	else if (r->ended == CCP_SYNTH_END_CAP)
		fprintf(out, "  ended               %14s   (%" PRIu64 " messages: half this machine's "
			     "memory; give --messages)\n", "at the cap", r->message_cap);
	fprintf(out, "  notifications       %14" PRIu64 "   (%" PRIu64 " stale, not sent; %.2f per message)\n",
		r->notifications, r->stale, per_message(r));
	fprintf(out, "  delivered           %14" PRIu64 "   (%" PRIu64 " deliveries)\n",
		r->delivered, r->deliveries);
	fprintf(out, "  duplicates          %14" PRIu64 "\n", r->duplicates);
	fprintf(out, "  lost                %14" PRIu64 "\n", r->lost);
	fprintf(out, "  exactly once        %14s\n", yesno(ccp_synth_exactly_once(r)));
	fprintf(out, "  seconds             %14.3f\n", r->seconds);
	fprintf(out, "  msgs/s              %14.0f\n", r->msgs_per_sec);
	fprintf(out, "  notifications/s     %14.0f\n", r->notifications_per_sec);
	fprintf(out, "  claim conflicts     %14" PRIu64 "\n", r->pump.claim_conflicts);
	fprintf(out, "  ring full waits     %14" PRIu64 "\n", r->pump.ring_full_waits);
	fprintf(out, "  reclaim waits       %14" PRIu64 "\n", r->pump.reclaim_waits);
	fprintf(out, "  batches             %14" PRIu64 "   (%.1f messages each)\n",
		r->pump.batches,
		r->pump.batches ? (double)r->pump.dispatched / (double)r->pump.batches : 0.0);
	fprintf(out, "  latency p50/p99     %11.1f us / %.1f us\n", (double)r->latency_p50 / 1e3,
		(double)r->latency_p99 / 1e3);
	fprintf(out, "  latency p99.9/max   %11.1f us / %.1f us\n", (double)r->latency_p999 / 1e3,
		(double)r->latency_max / 1e3);
	fprintf(out, "  cpu                 %14.2f s   (%.2f cores)\n", r->cpu_seconds,
		r->seconds > 0 ? r->cpu_seconds / r->seconds : 0.0);
	fprintf(out, "  peak rss            %14.1f MiB   (%.1f MiB of it the check-off tables)\n",
		(double)r->peak_rss_bytes / 1048576.0, (double)r->checkoff_bytes / 1048576.0);
	fprintf(out, "  allocated (peak)    %14.1f MiB   (%s)\n",
		(double)r->allocated_bytes / 1048576.0, r->allocator ? r->allocator : "?");
	const struct ccp_host_probe *h = r->host_before.measured ? &r->host_before : &r->host_after;
	fprintf(out, "  host round trip     %11s", "");
	ccp_host_probe_print(out, &r->host_before);
	fprintf(out, " / ");
	ccp_host_probe_print(out, &r->host_after);
	if (h->measured)
		fprintf(out, "   (CPUs %u and %u, before / after the run)\n", h->cpu_a, h->cpu_b);
	else
		fprintf(out, "   (not measured: fewer than two CPUs to pin to)\n");
}

void ccp_synth_print_json(FILE *out, const struct ccp_synth_report *r)
{
	const struct ccp_pump_config *p = &r->cfg.pump;
	char wait[CCP_PUMP_WAIT_NAME_MAX];
	fprintf(out, "{\"mode\":\"%s\",\"pollers\":%u,\"dispatchers\":%u,\"ring_size\":%" PRIu64
		     ",\"batch\":%u,\"wait\":\"%s\",\"dup_factor\":%u,\"payload\":%zu,",
		ccp_claim_mode_name(p->mode), p->pollers, p->dispatchers, p->ring_size, p->batch,
		ccp_pump_wait_name(p, wait), r->cfg.dup_factor, r->cfg.payload);
	fprintf(out, "\"ended\":\"%s\",\"notifications_per_message\":%.3f,",
		ccp_synth_end_name(r->ended), per_message(r));
	fprintf(out, "\"messages\":%" PRIu64 ",\"notifications\":%" PRIu64
		     ",\"stale_notifications\":%" PRIu64 ",\"delivered\":%" PRIu64
		     ",\"deliveries\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"lost\":%" PRIu64
		     ",\"phantoms\":%" PRIu64 ",\"corrupted\":%" PRIu64 ",\"exactly_once\":%s,",
		r->messages, r->notifications, r->stale, r->delivered, r->deliveries,
		r->duplicates, r->lost, r->phantoms, r->corrupted,
		ccp_synth_exactly_once(r) ? "true" : "false");
	fprintf(out, "\"seconds\":%.6f,\"msgs_per_sec\":%.1f,\"notifications_per_sec\":%.1f,",
		r->seconds, r->msgs_per_sec, r->notifications_per_sec);
	fprintf(out, "\"claim_conflicts\":%" PRIu64 ",\"ring_full_waits\":%" PRIu64
		     ",\"reclaim_waits\":%" PRIu64 ",\"records_created\":%" PRIu64
		     ",\"batches\":%" PRIu64,
		r->pump.claim_conflicts, r->pump.ring_full_waits, r->pump.reclaim_waits,
		r->pump.created, r->pump.batches);
	fprintf(out, ",\"latency_ns\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64
		     ",\"max\":%" PRIu64 "}",
		r->latency_p50, r->latency_p99, r->latency_p999, r->latency_max);
	fprintf(out, ",\"cpu_seconds\":%.3f,\"checkoff_bytes\":%" PRIu64 ",\"peak_rss_bytes\":%" PRIu64
		     ",\"allocated_bytes\":%" PRIu64 ",\"allocated_bytes_end\":%" PRIu64
		     ",\"allocator\":\"%s\",\"allocated_bytes_per_second\":[",
		r->cpu_seconds, r->checkoff_bytes, r->peak_rss_bytes, r->allocated_bytes,
		r->allocated_bytes_end,
		r->allocator ? r->allocator : "");
	for (unsigned i = 0; i < r->nsamples; i++)
		fprintf(out, "%s%" PRIu64, i ? "," : "", r->allocated_samples[i]);
	fprintf(out, "],");
	ccp_host_probe_json(out, &r->host_before, &r->host_after);
	fprintf(out, "}\n");
}
