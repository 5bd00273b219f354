list(APPEND CCP_ENGINE_SOURCES
  engine/ring.c
  engine/msg.c
  engine/registry.c
  engine/wait.c
  engine/lockq.c
  engine/pump.c
)
list(APPEND CCP_SYNTH_SOURCES
  synth/synth.c
  synth/report.c
)
list(APPEND CCP_CLI_SOURCES cli/cmd_bench.c cli/cmd_relay.c cli/cmd_demo.c cli/cmd_queue.c cli/opts.c)
list(APPEND CCP_RELAY_SOURCES relay/spool.c relay/relay.c relay/demo.c relay/queue.c relay/queuectl.c
  relay/fsutil.c relay/gate.c relay/runcmd.c relay/bounce.c relay/bouncer.c relay/und.c
  relay/relaystats.c)
