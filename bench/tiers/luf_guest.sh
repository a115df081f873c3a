#!/bin/sh
# In the two-tier guest (busybox ash), started by bench/tiers/luf.sh: the
# tiered-inference TLB-shootdown experiment. Reads /ts/luf.env (written by
# luf.sh): CELLS, MODES, ROUNDS, DRAM_MB, REQUESTS, GEN, PROMPT_MAX, SAMPLE_S, and the
# cells' environments CELL_<name>. Prints one LUF line per run, SAMPLE lines
# while it runs and LUFINFO lines about the machine.
. /ts/luf.env
D=$TS_BUILD/ts_llama
S=$TS_BUILD/tier_sample

modprobe virtio_pci 2>/dev/null; modprobe virtio_blk 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.5; done
[ -b /dev/vda ] || { echo "LUFERR no /dev/vda (the model disk)"; exit 1; }
# The model is a file on an ext2 filesystem, as on a server: a raw block
# device's own page cache is GFP_USER, which can never go to a slow tier
# onlined ZONE_MOVABLE, while a file's can.
modprobe crc32c_generic 2>/dev/null; modprobe ext4 2>/dev/null
mkdir -p /model
mount -t ext2 -o ro /dev/vda /model || { echo "LUFERR mount /dev/vda (ext2) failed"; exit 1; }
MODEL=$(ls /model/*.gguf | head -1)
[ -f "$MODEL" ] || { echo "LUFERR no .gguf on the model disk"; exit 1; }

# ---- the tiered machine: NUMA balancing in tiering mode, demotion on ----------
echo 2 >/proc/sys/kernel/numa_balancing || { echo "LUFERR numa_balancing=2 refused"; exit 1; }
echo 1 >/sys/kernel/mm/numa/demotion_enabled || { echo "LUFERR demotion_enabled refused"; exit 1; }
swapoff -a 2>/dev/null
# DRAM smaller than the working set: huge pages reserved on node 0 take the
# rest out of the page allocator (no process, nothing to demote or scan).
free0=$(awk '/MemFree/ { print int($4 / 1024) }' /sys/devices/system/node/node0/meminfo)
want=$(( (free0 - DRAM_MB) / 2 ))
[ "$want" -gt 0 ] || want=0
echo "$want" >/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
got=$(cat /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages)
node_free() { awk '/MemFree/ { print int($4 / 1024) }' "/sys/devices/system/node/node$1/meminfo"; }
echo "LUFINFO kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) node0_free_mb=$(node_free 0) node1_free_mb=$(node_free 1) reserved_hugepages=$got dram_target_mb=$DRAM_MB"
[ "${DEBUG:-0}" = 1 ] && echo "LUFDBG thp_defrag=$(cat /sys/kernel/mm/transparent_hugepage/defrag) boost=$(cat /proc/sys/vm/watermark_boost_factor) scale=$(cat /proc/sys/vm/watermark_scale_factor)"
[ "${DEBUG:-0}" = 1 ] && awk '/^Node/ { z = ($2 == "0," ? $4 : "") } z && /^ +(min|low|high|promo|managed) / { printf "LUFDBG zone=%s %s=%d MiB\n", z, $1, $2 / 256 }' /proc/zoneinfo
echo "LUFINFO numa_balancing=$(cat /proc/sys/kernel/numa_balancing) demotion=$(cat /sys/kernel/mm/numa/demotion_enabled) swap=$(awk 'NR > 1' /proc/swaps | wc -l)"
for t in /sys/devices/virtual/memory_tiering/memory_tier*; do echo "LUFINFO tier=${t##*memory_tier} nodes=$(cat "$t/nodelist")"; done

tlb() { awk '$1 == "TLB:" { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }' /proc/interrupts; }
VMSTAT_KEYS="pgpromote_success pgpromote_candidate pgdemote_kswapd pgdemote_direct pgdemote_khugepaged pgsteal_anon pgsteal_file numa_hint_faults numa_hint_faults_local numa_pte_updates numa_pages_migrated pgmigrate_success pgmigrate_fail thp_collapse_alloc"
vmstat() { for k in $VMSTAT_KEYS; do awk -v k="$k" '$1 == k { print $2; f = 1 } END { if (!f) print "na" }' /proc/vmstat; done; }

# one CELL MODE ROUND: two processes at once, as in the LUF paper's setup
one() {
  cell=$1 mode=$2 round=$3
  eval "cenv=\$CELL_$cell"
  sync; echo 3 >/proc/sys/vm/drop_caches
  [ "${COMPACT:-0}" = 1 ] && echo 1 >/proc/sys/vm/compact_memory
  # Leave the previous run's memory behind: let kswapd settle.
  sleep 1
  t0=$(tlb) v0=$(vmstat) s0=$(date +%s)
  for p in 1 2; do
    if [ "$cell" = idle ]; then
      sleep 60 &
      eval "pid$p=\$!"
      continue
    fi
    env $cenv TIERSHIM_STATS=json:/tmp/$cell.$p.json $D --model "$MODEL" --bins /ts/bins --mmap "$mode" \
      --requests "$REQUESTS" --gen "$GEN" --prompt-max "$PROMPT_MAX" --threads 1 --ctx 512 --seed $p >/tmp/$cell.$p.out 2>/tmp/$cell.$p.err &
    eval "pid$p=\$!"
  done
  pattern=; [ "$mode" = on ] && pattern=$MODEL
  n=0
  while kill -0 "$pid1" 2>/dev/null || kill -0 "$pid2" 2>/dev/null; do
    sleep "$SAMPLE_S"; n=$((n + 1)); t=$(awk -v n=$n -v s="$SAMPLE_S" 'BEGIN { print n * s }')
    for p in "$pid1" "$pid2"; do
      st=$(awk '{ print $3 "," $14 + $15 }' "/proc/$p/stat" 2>/dev/null)
      ra=$(awk '/^RssAnon/ { print $2 }' "/proc/$p/status" 2>/dev/null)
      $S "$pattern" "$p" | sed "s/^SAMPLE /SAMPLE cell=$cell mode=$mode round=$round t=$t state=${st:-gone} rss_anon_kb=${ra:-0} /"
      # LUF_DEBUG: at the third sample, each mapping with 1 MiB or more of
      # anonymous pages, and where they are (numa_maps counts pages)
      [ "${DEBUG:-0}" = 1 ] && [ "$n" = 3 ] && awk -v c="$cell" -v p="$p" '/anon=/ { for (i = 3; i <= NF; i++) if ($i ~ /^(anon|N0|N1|kernelpagesize_kB)=/) { split($i, kv, "="); v[kv[1]] = kv[2] } if (v["anon"] * v["kernelpagesize_kB"] >= 1024) printf "LUFDBG maps cell=%s pid=%s %s %s anon_kb=%d n0_kb=%d n1_kb=%d\n", c, p, $1, $2, v["anon"] * v["kernelpagesize_kB"], v["N0"] * v["kernelpagesize_kB"], v["N1"] * v["kernelpagesize_kB"]; delete v }' "/proc/$p/numa_maps" 2>/dev/null
    done
    [ "${DEBUG:-0}" = 1 ] && echo "LUFDBG t=$t n0free=$(node_free 0) n1free=$(node_free 1) $(awk '$1 ~ /^(pgdemote_kswapd|pgdemote_direct|thp_fault_alloc|thp_fault_fallback|compact_stall|pgsteal_file|pageoutrun|pgscan_kswapd|kswapd_low_wmark_hit_quickly|kswapd_high_wmark_hit_quickly|allocstall_movable|compact_daemon_wake|compact_daemon_migrate_scanned|compact_migrate_scanned|pgmigrate_success|thp_split_pmd|thp_collapse_alloc)$/ { printf "%s=%s ", $1, $2 }' /proc/vmstat) $(tail -c 150 /tmp/$cell.1.err | tr '\n' '|')"
  done
  wait "$pid1"; rc1=$?; wait "$pid2"; rc2=$?
  t1=$(tlb) v1=$(vmstat) s1=$(date +%s)
  line="LUF cell=$cell mode=$mode round=$round rc=$rc1,$rc2 seconds=$((s1 - s0)) tlb=$((t1 - t0))"
  set -- $v0
  for k in $VMSTAT_KEYS; do eval "b_$k=$1"; shift; done
  set -- $v1
  for k in $VMSTAT_KEYS; do
    eval "b=\$b_$k"
    if [ "$1" = na ] || [ "$b" = na ]; then line="$line $k=na"; else line="$line $k=$(($1 - b))"; fi
    shift
  done
  [ "$cell" = idle ] && { echo "$line"; return; }
  for p in 1 2; do
    chk=$(sed -n 's/^RESULT.* check=\([0-9a-f]*\).*/\1/p' /tmp/$cell.$p.out)
    tps=$(sed -n 's/^RESULT.* gen_tps=\([0-9.]*\).*/\1/p' /tmp/$cell.$p.out)
    line="$line check$p=${chk:-none} gen_tps$p=${tps:-0}"
    [ -n "$chk" ] || { echo "LUFERR $cell $mode p$p:"; tail -5 /tmp/$cell.$p.err; }
    # tiershim's own view: cold reads, bulk that spilled past the reserve
    [ -s /tmp/$cell.$p.json ] && echo "LUFSTAT cell=$cell mode=$mode round=$round p=$p $(grep -oE '"(cold_reads|cold_read_bytes|cold_read_refused|bulk_spilled_bytes|fast_reserve_bytes|bulk_bound_bytes)": [0-9]+' /tmp/$cell.$p.json | tr -d '" ' | tr ':\n' '= ')"
  done
  echo "$line"
}

# The floor: what the guest sends with two processes that only sleep for
# 60 s, sampled the same way (the sampling's own
# processes exit and free page tables, which flushes the CPUs they ran on).
idle() {
  one idle "$1" "$2"
}

r=1
while [ "$r" -le "$ROUNDS" ]; do
  for mode in $MODES; do
    [ "$mode" = on ] && [ "$r" -gt "${ROUNDS_ON:-$ROUNDS}" ] && continue
    # Rotate the order per round: no cell always runs first.
    cells=$CELLS
    k=1; while [ "$k" -lt "$r" ]; do set -- $cells; f=$1; shift; cells="$* $f"; k=$((k + 1)); done
    for c in $cells; do one "$c" "$mode" "$r"; done
  done
  [ "${IDLE:-1}" = 1 ] && idle all "$r"
  r=$((r + 1))
done
echo "LUFDONE"
