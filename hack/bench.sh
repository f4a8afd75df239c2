#!/usr/bin/env bash
# hack/bench.sh: load benchmark of wasmgate against the backend alone, nginx
# and haproxy on the same machine, reported as ratios from one run.
# See hack/README.md. Everything runs on 127.0.0.1.
#
# Usage:
#   hack/bench.sh                   run the benchmark (settings below)
#   hack/bench.sh --summarize DIR   no load: re-read DIR/results.tsv of an
#                                   earlier run, print its tables again and
#                                   rewrite DIR/bench-results.json
#
# Environment (defaults in brackets):
#   ROUNDS     rounds; targets are interleaved within every round, and the
#              order rotates by one target each round [5: on a shared
#              machine req/s drifts ~15% between rounds; with 5 rounds the
#              min-max of the paired per-round ratios covers their true
#              median with ~94% confidence, with 3 only 75%]
#   DURATION   wrk duration of one measurement [10s]
#   WARMUP     wrk duration of the warm-up before each target's runs [2s]
#   CONNS      connection counts to measure ["64 256"]
#   TARGETS    targets to measure
#              ["direct wasmgate wasmgate-general wasmgate-chain nginx haproxy"]
#   THREADS    wrk threads [1]
#   OUT        results dir (bench-results.json, wrk outputs, configs, logs)
#              [a new temp dir]
#   PROXY_CPU  CPU the proxy under test is pinned to [0]
#   LOAD_CPU   CPU the backend and wrk are pinned to [1]
#   WASMGATE_BIN  wasmgate binary [bin/wasmgate]
#   BUILD      0 = do not (re)build bin/wasmgate [1]
#   NGINX_KEEPALIVE  idle upstream connections nginx keeps [largest of CONNS]
#   H2_STREAMS streams per connection for h2load targets (-m) [10]
#
# nginx, haproxy and wasmgate send the backend the same request: the
# client's Host, X-Forwarded-For, X-Forwarded-Proto and Via ("Equal work"
# in hack/README.md). The optional target nginx-bare is nginx without those
# fields, as proxy_pass does by default:
#   TARGETS="wasmgate nginx nginx-bare" hack/bench.sh
#
# HTTP/2 targets (load tool h2load -cN -m10): wasmgate-h2 and nginx-h2 over
# TLS (ALPN h2, certificates from hack/certs), wasmgate-h2c and nginx-h2c in
# cleartext with prior knowledge. For example:
#   TARGETS="wasmgate-h2 nginx-h2 wasmgate-h2c nginx-h2c" CONNS=64 hack/bench.sh
# HTTP/3 target (load tool hack/h3load -cN -m10, QUIC connections):
# wasmgate-h3; nginx here has no HTTP/3, so compare it with the h2 targets:
#   TARGETS="wasmgate-h2 wasmgate-h3 nginx-h2" CONNS=64 hack/bench.sh
#
# Adding a target: write a start_<target> function (it starts the server,
# registers its pid with track_pid and sets TARGET_PORT, or calls skip_target
# / returns non-zero), and add the target to TARGET_START and TARGET_TOOL
# below. A new load tool (e.g. h2load) is a load_<tool> function with the
# same contract as load_wrk.

set -euo pipefail

# The whole script is one { } block, so bash parses all of it before running
# any of it: editing the file during a run cannot derail that run.
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HACK=$ROOT/hack

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64 256}
TARGETS=${TARGETS:-direct wasmgate wasmgate-general wasmgate-chain nginx haproxy}
THREADS=${THREADS:-1}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
WASMGATE_BIN=${WASMGATE_BIN:-$ROOT/bin/wasmgate}
BUILD=${BUILD:-1}

# target -> function that starts it; target -> load tool (load_<tool>).
declare -A TARGET_START=(
	[direct]=start_direct
	[wasmgate]=start_wasmgate
	[wasmgate-general]=start_wasmgate_general
	[wasmgate-chain]=start_wasmgate_chain
	[nginx]=start_nginx
	[nginx-bare]=start_nginx_bare
	[haproxy]=start_haproxy
	[wasmgate-h2]=start_wasmgate_h2
	[wasmgate-h2c]=start_wasmgate_h2c
	[nginx-h2]=start_nginx_h2
	[nginx-h2c]=start_nginx_h2c
	[wasmgate-h3]=start_wasmgate_h3
)
declare -A TARGET_TOOL=(
	[direct]=wrk
	[wasmgate]=wrk
	[wasmgate-general]=wrk
	[wasmgate-chain]=wrk
	[nginx]=wrk
	[nginx-bare]=wrk
	[haproxy]=wrk
	[wasmgate-h2]=h2load
	[wasmgate-h2c]=h2load
	[nginx-h2]=h2load
	[nginx-h2c]=h2load
	[wasmgate-h3]=h3load
)
# Tool -> packages to install when the tool is missing; the same for the
# servers behind the targets.
declare -A TOOL_PACKAGE=([wrk]=wrk [h2load]=nghttp2-client)
declare -A TARGET_PACKAGE=([nginx]=nginx [nginx-bare]=nginx [haproxy]=haproxy [nginx-h2]=nginx [nginx-h2c]=nginx)
# HTTP/2 targets: URL scheme and how the readiness probe speaks to them.
# (wasmgate-h3 is probed over TCP: the same listener serves h2 there.)
declare -A TARGET_SCHEME=([wasmgate-h2]=https [nginx-h2]=https [wasmgate-h3]=https)
declare -A TARGET_PROBE=([wasmgate-h2]=--http2 [nginx-h2]=--http2 [wasmgate-h2c]=--http2-prior-knowledge [nginx-h2c]=--http2-prior-knowledge [wasmgate-h3]=--http2)
# h2load: streams per connection (-m).
H2_STREAMS=${H2_STREAMS:-10}

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# ------------------------------------------------------------------- report

# summarize TSV JSON: prints the tables (medians per target, ratios of the
# medians, paired per-round ratios) from TSV, a results.tsv, and writes JSON,
# a bench-results.json. The run's metadata comes from these variables:
# TARGET_LIST, CONNS_LIST, ROUNDS, DURATION, WARMUP, THREADS, REPORT_PROXY_CPU
# and REPORT_LOAD_CPU ("" when not pinned), NGINX_VERSION, HAPROXY_VERSION,
# WRK_VERSION, GIT_REV, RUN_DATE, SKIPPED_NAMES (space-separated) and
# SKIPPED_LIST / FAILURE_LIST ("name: reason" / failure strings, each ended
# by SEP).
#
# results.tsv has one line per measurement: target, conns, round, req/s,
# p99 ms, requests, non-2xx, socket errors, status (ok or fail), proxy CPU
# us per request, and how busy the proxy's and the load's CPUs were in
# percent (-1: none; older files lack the last two). Only "ok" lines count.
SEP=$'\x1f'
summarize() {
	local tsv=$1 json=$2
	awk -F'\t' \
		-v targets="${TARGET_LIST[*]}" -v conns="${CONNS_LIST[*]}" \
		-v rounds="$ROUNDS" -v duration="$DURATION" -v warmup="$WARMUP" -v threads="$THREADS" \
		-v proxy_cpu="$REPORT_PROXY_CPU" -v load_cpu="$REPORT_LOAD_CPU" \
		-v nginx_v="$NGINX_VERSION" -v haproxy_v="$HAPROXY_VERSION" -v wrk_v="$WRK_VERSION" \
		-v git_rev="$GIT_REV" -v date="$RUN_DATE" \
		-v skipped="$SKIPPED_LIST" -v failures="$FAILURE_LIST" -v sep="$SEP" \
		-v skipped_names="$SKIPPED_NAMES" -v load_bound=95 \
		-v json="$json.tmp" '
	function median(list,    a, n, i, j, t) {
		n = split(list, a, " ")
		if (n == 0) return -1
		for (i = 2; i <= n; i++) {          # insertion sort, n is tiny
			t = a[i] + 0
			for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
			a[j + 1] = t
		}
		if (n % 2) return a[(n + 1) / 2] + 0
		return (a[n / 2] + a[n / 2 + 1]) / 2
	}
	# spread LIST: sets SMED, SMIN and SMAX to the median, minimum and
	# maximum of the space-separated numbers in LIST (all -1 when empty).
	function spread(list,    a, n, i) {
		n = split(list, a, " ")
		SMED = SMIN = SMAX = -1
		if (n == 0) return
		SMED = median(list)
		SMIN = SMAX = a[1] + 0
		for (i = 2; i <= n; i++) {
			if (a[i] + 0 < SMIN) SMIN = a[i] + 0
			if (a[i] + 0 > SMAX) SMAX = a[i] + 0
		}
	}
	function jstr(s) { return "\"" s "\"" }
	function jlist(list, quote,    a, n, i, s) {
		n = split(list, a, " ")
		s = ""
		for (i = 1; i <= n; i++) s = s (i > 1 ? ", " : "") (quote ? jstr(a[i]) : a[i])
		return "[" s "]"
	}
	function jstrs(list,    a, n, i, s) {   # sep-separated strings
		n = split(list, a, sep)
		s = ""
		for (i = 1; i <= n; i++) if (a[i] != "") s = s (s != "" ? ", " : "") jstr(a[i])
		return "[" s "]"
	}
	function num(v) { return v < 0 ? "null" : sprintf("%.3f", v) }
	function ratio(a, b) { return (a < 0 || b <= 0) ? -1 : a / b }
	function fmt_ratio(r) { return r < 0 ? "-" : sprintf("%.2fx", r) }
	function fmt_spread(med, lo, hi) { return med < 0 ? "-" : sprintf("%.2fx [%.2f-%.2f]", med, lo, hi) }
	$9 == "ok" {
		k = $1 SUBSEP $2
		rps[k] = rps[k] " " $4
		p99[k] = p99[k] " " $5
		if ($10 != "" && $10 >= 0) cpu[k] = cpu[k] " " $10
		if ($11 != "" && $11 >= 0) pbusy[k] = pbusy[k] " " $11
		if ($12 != "" && $12 >= 0) {
			lbusy[k] = lbusy[k] " " $12
			nload++
			if ($12 >= load_bound) nbound++
		}
		n[k]++
		# The same measurement by round, for the paired ratios.
		kr = k SUBSEP ($3 + 0)
		ok[kr] = 1
		rrps[kr] = $4 + 0
		rp99[kr] = $5 + 0
		rcpu[kr] = ($10 != "" && $10 >= 0) ? $10 + 0 : -1
		if ($3 + 0 > maxround) maxround = $3 + 0
	}
	END {
		nt = split(targets, T, " ")
		nc = split(conns, C, " ")
		nsk = split(skipped_names, SK, " ")
		for (i = 1; i <= nsk; i++) skip[SK[i]] = 1
		for (i = 1; i <= nt; i++) for (j = 1; j <= nc; j++) {
			k = T[i] SUBSEP C[j]
			mr[k] = median(rps[k]); mp[k] = median(p99[k]); mc[k] = median(cpu[k])
			mpb[k] = median(pbusy[k]); mlb[k] = median(lbusy[k])
		}

		printf "\n%-18s %6s %14s %14s %16s %12s %12s %7s\n", "target", "conns", "req/s (med)", "p99 ms (med)", "CPU us/req (med)", "proxy CPU %", "load CPU %", "rounds"
		for (i = 1; i <= nt; i++) for (j = 1; j <= nc; j++) {
			k = T[i] SUBSEP C[j]
			if (n[k] == 0) {
				printf "%-18s %6s %14s %14s %16s %12s %12s %7s\n", T[i], C[j], "-", "-", "-", "-", "-", (T[i] in skip) ? "skipped" : "0/" rounds
				continue
			}
			printf "%-18s %6s %14.0f %14.2f %16s %12s %12s %7s\n", T[i], C[j], mr[k], mp[k], mc[k] < 0 ? "-" : sprintf("%.2f", mc[k]), \
				mpb[k] < 0 ? "-" : sprintf("%.1f", mpb[k]), mlb[k] < 0 ? "-" : sprintf("%.1f", mlb[k]), n[k] "/" rounds
		}
		# Which CPU capped req/s: when the load CPU (backend and wrk) is
		# saturated, every proxy gets the req/s that CPU allows, and the
		# proxies differ in their CPU per request instead.
		if (nload > 0)
			printf "\nload CPU >= %d%% busy in %d of %d measurements: there req/s is capped by the backend and wrk, not by the proxy; compare the proxies by CPU us/req\n", load_bound, nbound, nload

		# Ratios: every wasmgate* target against every other target, and
		# the full chain (wasmgate-chain) and the general path
		# (wasmgate-general) against the plain path (wasmgate).
		ns = 0; nr = 0; np = 0
		for (i = 1; i <= nt; i++) {
			if (T[i] in skip) continue
			if (T[i] ~ /^wasmgate/) S[++ns] = T[i]; else R[++nr] = T[i]
		}
		for (s = 1; s <= ns; s++) for (r = 1; r <= nr; r++) { PS[++np] = S[s]; PR[np] = R[r] }
		for (s = 1; s <= ns; s++) for (r = 1; r <= ns; r++)
			if ((S[s] == "wasmgate-chain" || S[s] == "wasmgate-general") && S[r] == "wasmgate") { PS[++np] = S[s]; PR[np] = S[r] }
		if (ns == 0) printf "\nno ratios: no wasmgate target was measured\n"
		if (np > 0) {
			printf "\nratios of the medians (req/s: higher is better; p99 and CPU/req: lower is better)\n"
			printf "%-28s %6s %10s %10s %10s\n", "", "conns", "req/s", "p99", "CPU/req"
		}
		jr = ""
		for (p = 1; p <= np; p++) for (j = 1; j <= nc; j++) {
			ks = PS[p] SUBSEP C[j]; kr = PR[p] SUBSEP C[j]
			rr = ratio(n[ks] ? mr[ks] : -1, n[kr] ? mr[kr] : -1)
			rp = ratio(n[ks] ? mp[ks] : -1, n[kr] ? mp[kr] : -1)
			rc = ratio(n[ks] ? mc[ks] : -1, n[kr] ? mc[kr] : -1)
			printf "%-28s %6s %10s %10s %10s\n", PS[p] "/" PR[p], C[j], fmt_ratio(rr), fmt_ratio(rp), fmt_ratio(rc)

			# Paired: the ratio within each round where both targets
			# succeeded, so both sides were measured under that
			# round conditions; then the median and the range of those.
			npr = 0; lrounds = ""; lr = ""; lp = ""; lc = ""; jrr = ""; jrp = ""; jrc = ""
			for (rd = 1; rd <= maxround; rd++) {
				a = ks SUBSEP rd; b = kr SUBSEP rd
				if (!(a in ok) || !(b in ok)) continue
				npr++
				lrounds = lrounds " " rd
				x = ratio(rrps[a], rrps[b]); if (x >= 0) lr = lr " " x; jrr = jrr " " num(x)
				x = ratio(rp99[a], rp99[b]); if (x >= 0) lp = lp " " x; jrp = jrp " " num(x)
				x = ratio(rcpu[a], rcpu[b]); if (x >= 0) lc = lc " " x; jrc = jrc " " num(x)
			}
			spread(lr); prm[p, j] = SMED; prlo[p, j] = SMIN; prhi[p, j] = SMAX
			spread(lp); ppm[p, j] = SMED; pplo[p, j] = SMIN; pphi[p, j] = SMAX
			spread(lc); pcm[p, j] = SMED; pclo[p, j] = SMIN; pchi[p, j] = SMAX
			npaired[p, j] = npr

			jr = jr (jr != "" ? ",\n" : "") sprintf("    {\"subject\": %s, \"reference\": %s, \"conns\": %s, \"rps_ratio\": %s, \"p99_ratio\": %s, \"cpu_per_request_ratio\": %s, " \
				"\"rounds_paired\": %d, \"paired_rounds\": %s, " \
				"\"rps_ratio_paired_median\": %s, \"rps_ratio_paired_min\": %s, \"rps_ratio_paired_max\": %s, " \
				"\"p99_ratio_paired_median\": %s, \"p99_ratio_paired_min\": %s, \"p99_ratio_paired_max\": %s, " \
				"\"cpu_per_request_ratio_paired_median\": %s, \"cpu_per_request_ratio_paired_min\": %s, \"cpu_per_request_ratio_paired_max\": %s, " \
				"\"rps_ratio_per_round\": %s, \"p99_ratio_per_round\": %s, \"cpu_per_request_ratio_per_round\": %s}", \
				jstr(PS[p]), jstr(PR[p]), C[j], num(rr), num(rp), num(rc), \
				npr, jlist(lrounds, 0), \
				num(prm[p, j]), num(prlo[p, j]), num(prhi[p, j]), \
				num(ppm[p, j]), num(pplo[p, j]), num(pphi[p, j]), \
				num(pcm[p, j]), num(pclo[p, j]), num(pchi[p, j]), \
				jlist(jrr, 0), jlist(jrp, 0), jlist(jrc, 0))
		}
		if (np > 0) {
			printf "\npaired per-round ratios: median [min-max] over the rounds where both targets ran\n"
			printf "%-28s %6s %7s %20s %20s %20s\n", "", "conns", "rounds", "req/s", "p99", "CPU/req"
			for (p = 1; p <= np; p++) for (j = 1; j <= nc; j++)
				printf "%-28s %6s %7s %20s %20s %20s\n", PS[p] "/" PR[p], C[j], npaired[p, j] "/" rounds, \
					fmt_spread(prm[p, j], prlo[p, j], prhi[p, j]), \
					fmt_spread(ppm[p, j], pplo[p, j], pphi[p, j]), \
					fmt_spread(pcm[p, j], pclo[p, j], pchi[p, j])
		}

		jres = ""
		for (i = 1; i <= nt; i++) for (j = 1; j <= nc; j++) {
			k = T[i] SUBSEP C[j]
			jres = jres (jres != "" ? ",\n" : "") sprintf("    {\"target\": %s, \"conns\": %s, \"skipped\": %s, \"rounds_ok\": %d, \"rps_median\": %s, \"p99_ms_median\": %s, \"cpu_us_per_request_median\": %s, \"proxy_cpu_busy_pct_median\": %s, \"load_cpu_busy_pct_median\": %s, \"rps\": %s, \"p99_ms\": %s, \"cpu_us_per_request\": %s, \"proxy_cpu_busy_pct\": %s, \"load_cpu_busy_pct\": %s}", \
				jstr(T[i]), C[j], (T[i] in skip) ? "true" : "false", n[k], n[k] ? num(mr[k]) : "null", n[k] ? num(mp[k]) : "null", n[k] ? num(mc[k]) : "null", \
				n[k] ? num(mpb[k]) : "null", n[k] ? num(mlb[k]) : "null", \
				jlist(rps[k], 0), jlist(p99[k], 0), jlist(cpu[k], 0), jlist(pbusy[k], 0), jlist(lbusy[k], 0))
		}
		print "{" > json
		print "  \"date\": " jstr(date) "," > json
		print "  \"git_rev\": " jstr(git_rev) "," > json
		printf "  \"settings\": {\"rounds\": %s, \"duration\": %s, \"warmup\": %s, \"threads\": %s, \"conns\": %s, \"targets\": %s, \"proxy_cpu\": %s, \"load_cpu\": %s},\n", \
			rounds, jstr(duration), jstr(warmup), threads, jlist(conns, 0), jlist(targets, 1), \
			(proxy_cpu == "" ? "null" : proxy_cpu), (load_cpu == "" ? "null" : load_cpu) > json
		printf "  \"versions\": {\"nginx\": %s, \"haproxy\": %s, \"wrk\": %s},\n", jstr(nginx_v), jstr(haproxy_v), jstr(wrk_v) > json
		print "  \"skipped\": " jstrs(skipped) "," > json
		print "  \"failures\": " jstrs(failures) "," > json
		print "  \"results\": [\n" jres "\n  ]," > json
		print "  \"ratios\": [" (jr != "" ? "\n" jr "\n  " : "") "]" > json
		print "}" > json
		close(json)
	}
' "$tsv" || {
		rm -f -- "$json.tmp"
		return 1
	}
	mv -f -- "$json.tmp" "$json"
}

# jfield TEXT KEY: the value of "KEY" in TEXT (lines of a bench-results.json
# as this script writes it), unquoted; empty when absent.
jfield() {
	printf '%s\n' "$1" | awk -v key="\"$2\": " '
		{
			i = index($0, key)
			if (!i) next
			s = substr($0, i + length(key))
			if (substr(s, 1, 1) == "\"") { s = substr(s, 2); sub(/".*/, "", s) } else sub(/[,}].*/, "", s)
			print s
			exit
		}'
}

# jarray TEXT KEY: the elements of the array "KEY" in TEXT, one per line.
# (Strings in that file hold no quotes: the script strips them.)
jarray() {
	printf '%s\n' "$1" | awk -v key="\"$2\": [" '
		{
			i = index($0, key)
			if (!i) next
			s = substr($0, i + length(key))
			if (substr(s, 1, 1) == "\"") {
				n = split(s, a, "\"")
				for (j = 2; j <= n; j += 2) {
					print a[j]
					if (a[j + 1] !~ /^, *$/) break
				}
			} else {
				sub(/\].*/, "", s)
				n = split(s, a, /[ ,]+/)
				for (j = 1; j <= n; j++) if (a[j] != "") print a[j]
			}
			exit
		}'
}

# summarize_dir DIR: the --summarize mode. Re-reads DIR/results.tsv, prints
# the tables again and rewrites DIR/bench-results.json (with the paired
# ratios). The settings, tool versions, date, git revision, skipped targets
# and failures come from the bench-results.json already in DIR when there is
# one; otherwise targets, connection counts and rounds come from
# results.tsv, in the order they first appear there.
summarize_dir() {
	local dir=$1 tsv json old="" settings versions line
	[[ -d $dir ]] || die "--summarize: no directory '$dir'"
	dir=$(cd "$dir" && pwd)
	tsv=$dir/results.tsv
	json=$dir/bench-results.json
	[[ -f $tsv ]] || die "--summarize: no results.tsv in $dir"
	if [[ -f $json ]]; then old=$(cat "$json"); fi
	settings=$(printf '%s\n' "$old" | grep -m 1 '^  "settings": ' || true)
	versions=$(printf '%s\n' "$old" | grep -m 1 '^  "versions": ' || true)

	mapfile -t TARGET_LIST < <(jarray "$settings" targets)
	mapfile -t CONNS_LIST < <(jarray "$settings" conns)
	if ((${#TARGET_LIST[@]} == 0)); then
		mapfile -t TARGET_LIST < <(awk -F'\t' 'NF >= 9 && !seen[$1]++ { print $1 }' "$tsv")
	fi
	if ((${#CONNS_LIST[@]} == 0)); then
		mapfile -t CONNS_LIST < <(awk -F'\t' 'NF >= 9 && !seen[$2]++ { print $2 }' "$tsv")
	fi
	((${#TARGET_LIST[@]} > 0 && ${#CONNS_LIST[@]} > 0)) || die "--summarize: $tsv holds no measurements"
	ROUNDS=$(jfield "$settings" rounds)
	if ! [[ $ROUNDS =~ ^[1-9][0-9]*$ ]]; then
		ROUNDS=$(awk -F'\t' 'NF >= 9 && $3 + 0 > m { m = $3 + 0 } END { print m + 0 }' "$tsv")
	fi
	DURATION=$(jfield "$settings" duration)
	WARMUP=$(jfield "$settings" warmup)
	THREADS=$(jfield "$settings" threads)
	REPORT_PROXY_CPU=$(jfield "$settings" proxy_cpu)
	REPORT_LOAD_CPU=$(jfield "$settings" load_cpu)
	[[ $REPORT_PROXY_CPU =~ ^[0-9]+$ ]] || REPORT_PROXY_CPU=
	[[ $REPORT_LOAD_CPU =~ ^[0-9]+$ ]] || REPORT_LOAD_CPU=
	[[ $THREADS =~ ^[0-9]+$ ]] || THREADS=null
	NGINX_VERSION=$(jfield "$versions" nginx)
	HAPROXY_VERSION=$(jfield "$versions" haproxy)
	WRK_VERSION=$(jfield "$versions" wrk)
	GIT_REV=$(jfield "$old" git_rev)
	RUN_DATE=$(jfield "$old" date)
	: "${DURATION:=unknown}" "${WARMUP:=unknown}" "${GIT_REV:=unknown}"
	if [[ -z $RUN_DATE ]]; then RUN_DATE=$(date -u -r "$tsv" +%Y-%m-%dT%H:%M:%SZ); fi

	SKIPPED_LIST=
	SKIPPED_NAMES=
	while IFS= read -r line; do
		SKIPPED_LIST+="$line$SEP"
		SKIPPED_NAMES+="${line%%:*} "
	done < <(jarray "$old" skipped)
	FAILURE_LIST=
	FAILURE_COUNT=0
	while IFS= read -r line; do
		FAILURE_LIST+="$line$SEP"
		FAILURE_COUNT=$((FAILURE_COUNT + 1))
	done < <(jarray "$old" failures)

	log "re-summarising $tsv (targets: ${TARGET_LIST[*]}; conns: ${CONNS_LIST[*]}; rounds: $ROUNDS)"
	summarize "$tsv" "$json"
	echo
	if ((FAILURE_COUNT > 0)); then
		echo "the run recorded $FAILURE_COUNT failure(s); see \"failures\" in $json"
	fi
	echo "results: $json (rewritten from $tsv)"
}

case ${1:-} in
--summarize)
	(($# == 2)) || die "usage: hack/bench.sh [--summarize DIR]"
	summarize_dir "$2"
	exit 0
	;;
-h | --help)
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit 0
	;;
"") ;;
*) die "unknown argument '$1' (usage: hack/bench.sh [--summarize DIR])" ;;
esac


# ---------------------------------------------------------------- validation

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, got '$THREADS'"
read -r -a CONNS_LIST <<<"$CONNS"
read -r -a TARGET_LIST <<<"$TARGETS"
((${#CONNS_LIST[@]} > 0)) || die "CONNS is empty"
((${#TARGET_LIST[@]} > 0)) || die "TARGETS is empty"
MAX_CONNS=0
for c in "${CONNS_LIST[@]}"; do
	[[ $c =~ ^[1-9][0-9]*$ ]] || die "CONNS must hold positive integers, got '$c'"
	((c >= THREADS)) || die "every CONNS value must be >= THREADS ($THREADS)"
	if ((c > MAX_CONNS)); then MAX_CONNS=$c; fi
done
NGINX_KEEPALIVE=${NGINX_KEEPALIVE:-$MAX_CONNS}
for t in "${TARGET_LIST[@]}"; do
	[[ -n ${TARGET_START[$t]:-} ]] || die "unknown target '$t' (known: ${!TARGET_START[*]})"
done

# seconds DURATION: a wrk duration (10, 10s, 2m, 1h) in whole seconds.
seconds() {
	local d=$1
	case $d in
	*[0-9]s) echo "${d%s}" ;;
	*[0-9]m) echo $((${d%m} * 60)) ;;
	*[0-9]h) echo $((${d%h} * 3600)) ;;
	*[0-9]) echo "$d" ;;
	*) return 1 ;;
	esac
}
for d in "$DURATION" "$WARMUP"; do
	[[ $d =~ ^[1-9][0-9]*[smh]?$ ]] || die "DURATION/WARMUP must look like 10s, 2m or 10, got '$d'"
done

# ------------------------------------------------------------------ cleanup

PIDS=()
LOAD_PID=
LOAD_RESULT=
WORK=
cleanup() {
	local pid i
	trap - EXIT INT TERM
	if [[ -n $LOAD_PID ]]; then
		# run_bounded's timeout leads its own process group.
		kill -TERM -- "-$LOAD_PID" 2>/dev/null || kill -TERM "$LOAD_PID" 2>/dev/null || true
		wait "$LOAD_PID" 2>/dev/null || true
	fi
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $WORK && -d $WORK ]]; then
		rm -rf -- "$WORK"
	fi
}
on_signal() {
	log "interrupted, stopping everything started"
	cleanup
	exit 130
}
trap cleanup EXIT
trap on_signal INT TERM

track_pid() { PIDS+=("$1"); }

# --------------------------------------------------------------- installing

need_install=()
command -v wrk >/dev/null || need_install+=("${TOOL_PACKAGE[wrk]}")
for t in "${TARGET_LIST[@]}"; do
	if [[ ${TARGET_TOOL[$t]} == h2load ]] && ! command -v h2load >/dev/null; then
		need_install+=("${TOOL_PACKAGE[h2load]}")
		break
	fi
done
command -v taskset >/dev/null || need_install+=(util-linux)
for t in "${TARGET_LIST[@]}"; do
	pkg=${TARGET_PACKAGE[$t]:-}
	if [[ -n $pkg ]] && ! command -v "$pkg" >/dev/null && [[ ! -x /usr/sbin/$pkg ]] &&
		[[ " ${need_install[*]} " != *" $pkg "* ]]; then
		need_install+=("$pkg")
	fi
done
if ((${#need_install[@]} > 0)); then
	sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "need root (or sudo) to install: ${need_install[*]}"
		sudo=(sudo -n)
	fi
	command -v apt-get >/dev/null || die "apt-get not found; install by hand: ${need_install[*]}"
	log "installing ${need_install[*]}"
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need_install[@]}" >/dev/null
fi
# Package binaries live in /usr/sbin, which a non-root PATH may lack.
PATH=$PATH:/usr/sbin:/sbin

# ----------------------------------------------------------------- workspace

WORK=$(mktemp -d "${TMPDIR:-/tmp}/wasmgate-bench.XXXXXX")
# nginx workers run as an unprivileged user when started by root.
chmod 0755 "$WORK"
if [[ -n ${OUT:-} ]]; then
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
else
	OUT=$(mktemp -d "${TMPDIR:-/tmp}/wasmgate-bench-results.XXXXXX")
fi
mkdir -p "$OUT/conf" "$OUT/logs" "$OUT/wrk"
RESULTS_TSV=$OUT/results.tsv
: >"$RESULTS_TSV"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

NCPU=$(nproc)
PIN_PROXY=()
PIN_LOAD=()
if ((NCPU > PROXY_CPU && NCPU > LOAD_CPU)) && [[ $PROXY_CPU != "$LOAD_CPU" ]]; then
	PIN_PROXY=(taskset -c "$PROXY_CPU")
	PIN_LOAD=(taskset -c "$LOAD_CPU")
else
	log "warning: $NCPU CPU(s); not pinning (want PROXY_CPU=$PROXY_CPU and LOAD_CPU=$LOAD_CPU)"
fi

# -------------------------------------------------------------------- ports

PICKED_PORTS=()
PORT=
# free_port: sets PORT to a loopback TCP port nobody uses, below the
# ephemeral range so outgoing connections cannot take it. (No subshell: the
# ports picked so far must be remembered.)
free_port() {
	local low _ f local_addr p i
	local -A used=()
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	((low > 12000)) || low=32768
	for f in /proc/net/tcp /proc/net/tcp6; do
		[[ -r $f ]] || continue
		while read -r _ local_addr _; do
			[[ $local_addr == *:* ]] || continue
			used[$((16#${local_addr##*:}))]=1
		done <"$f"
	done
	for p in "${PICKED_PORTS[@]}"; do used[$p]=1; done
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + RANDOM % (low - 10000)))
		if [[ -z ${used[$p]:-} ]]; then
			PICKED_PORTS+=("$p")
			PORT=$p
			return 0
		fi
	done
	return 1
}

# probe PORT: true when GET / through 127.0.0.1:PORT answers 200.
probe() {
	local status
	if [[ -n ${PROBE_CURL:-} ]]; then
		status=$(curl -sk -m 2 -o /dev/null -w '%{http_code}' "$PROBE_CURL" "$PROBE_SCHEME://127.0.0.1:$1/" 2>/dev/null) || return 1
		[[ $status == 200 ]]
		return
	fi
	status=$({
		exec 3<>"/dev/tcp/127.0.0.1/$1" &&
			printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3 &&
			IFS= read -r -t 2 status <&3 &&
			printf '%s' "$status"
	} 2>/dev/null) || return 1
	[[ $status == "HTTP/1."?" 200 "* ]]
}

# wait_ready NAME PID PORT LOGFILE: waits (at most 15s) until the server
# answers 200 on PORT; fails if it exits first.
wait_ready() {
	local name=$1 pid=$2 port=$3 logfile=$4 i
	for ((i = 0; i < 150; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited during start-up; last lines of $logfile:"
			tail -n 20 "$logfile" >&2 || true
			return 1
		fi
		if probe "$port"; then
			return 0
		fi
		sleep 0.1
	done
	log "$name did not answer 200 on 127.0.0.1:$port within 15s; last lines of $logfile:"
	tail -n 20 "$logfile" >&2 || true
	return 1
}

# render TEMPLATE OUTPUT LISTEN_PORT DIR: fills in a template from hack/bench/:
# @LISTEN_PORT@, @BACKEND_ADDR@, @DIR@ (a scratch dir), @LOGDIR@ ($OUT/logs)
# and @KEEPALIVE@ (NGINX_KEEPALIVE).
render() {
	sed -e "s|@LISTEN_PORT@|$3|g" \
		-e "s|@BACKEND_ADDR@|$BACKEND_ADDR|g" \
		-e "s|@DIR@|$4|g" \
		-e "s|@KEEPALIVE@|$NGINX_KEEPALIVE|g" \
		-e "s|@LOGDIR@|$OUT/logs|g" \
		-e "s|@CERTS@|$WORK/certs|g" \
		"$HACK/bench/$1" >"$2"
}

# -------------------------------------------------------------------- build

command -v go >/dev/null || die "go not found; it is needed to build hack/benchbackend"
log "building hack/benchbackend"
(cd "$ROOT" && go build -o "$WORK/benchbackend" ./hack/benchbackend)
for t in "${TARGET_LIST[@]}"; do
	if [[ -n ${TARGET_SCHEME[$t]:-} ]]; then
		log "writing demo certificates (hack/certs)"
		(cd "$ROOT" && go run ./hack/certs -out "$WORK/certs" >/dev/null)
		break
	fi
done
for t in "${TARGET_LIST[@]}"; do
	if [[ ${TARGET_TOOL[$t]} == h3load ]]; then
		log "building hack/h3load"
		(cd "$ROOT" && go build -o "$WORK/h3load" ./hack/h3load)
		break
	fi
done

WASMGATE_SKIP=
FAILURES=()
if [[ " ${TARGET_LIST[*]} " =~ \ wasmgate(-h2c?|-h3|-chain|-general)?\  ]]; then
	if [[ $BUILD == 1 && -d $ROOT/gateway/cmd/wasmgate ]]; then
		log "building bin/wasmgate"
		if ! (cd "$ROOT" && go build -o "$WASMGATE_BIN" ./gateway/cmd/wasmgate) 2>"$OUT/logs/wasmgate-build.log"; then
			cat "$OUT/logs/wasmgate-build.log" >&2
			FAILURES+=("wasmgate: go build ./gateway/cmd/wasmgate failed")
			WASMGATE_SKIP="build failed"
		fi
	fi
	if [[ -z $WASMGATE_SKIP && ! -x $WASMGATE_BIN ]]; then
		WASMGATE_SKIP="no binary at $WASMGATE_BIN and no ./gateway/cmd/wasmgate to build it from"
	fi
fi

# ------------------------------------------------------------------ targets

free_port || die "no free port"
BACKEND_PORT=$PORT
BACKEND_ADDR=127.0.0.1:$BACKEND_PORT
TARGET_PORT=

start_direct() { TARGET_PORT=$BACKEND_PORT; }

start_nginx() { start_nginx_with nginx.conf.tmpl nginx; }

start_haproxy() {
	local port pid
	free_port || return 1
	port=$PORT
	render haproxy.cfg.tmpl "$OUT/conf/haproxy.cfg" "$port" "$WORK"
	if ! haproxy -c -q -f "$OUT/conf/haproxy.cfg" >"$OUT/logs/haproxy-check.log" 2>&1; then
		cat "$OUT/logs/haproxy-check.log" >&2
		return 1
	fi
	"${PIN_PROXY[@]}" haproxy -db -f "$OUT/conf/haproxy.cfg" >"$OUT/logs/haproxy.log" 2>&1 &
	pid=$!
	track_pid "$pid"
	wait_ready haproxy "$pid" "$port" "$OUT/logs/haproxy.log" || return 1
	TARGET_PORT=$port
}

# start_wasmgate_with TEMPLATE NAME: wasmgate with the config from TEMPLATE.
start_wasmgate_with() {
	local tmpl=$1 name=$2 port pid conf
	if [[ -n $WASMGATE_SKIP ]]; then
		skip_target "$name" "$WASMGATE_SKIP"
		return 0
	fi
	free_port || return 1
	port=$PORT
	conf=$OUT/conf/$name.hcl
	render "$tmpl" "$conf" "$port" "$WORK"
	"${PIN_PROXY[@]}" "$WASMGATE_BIN" run -c "$conf" >"$OUT/logs/$name.log" 2>&1 &
	pid=$!
	track_pid "$pid"
	wait_ready "$name" "$pid" "$port" "$OUT/logs/$name.log" || return 1
	TARGET_PORT=$port
}
start_wasmgate() { start_wasmgate_with wasmgate.hcl.tmpl wasmgate; }
start_wasmgate_general() { start_wasmgate_with wasmgate-general.hcl.tmpl wasmgate-general; }
start_wasmgate_chain() { start_wasmgate_with wasmgate-chain.hcl.tmpl wasmgate-chain; }

# with_probe TARGET COMMAND...: runs COMMAND with the readiness probe set
# up for TARGET's protocol (curl for HTTP/2 targets).
with_probe() {
	local t=$1 rc=0
	shift
	PROBE_CURL=${TARGET_PROBE[$t]:-}
	PROBE_SCHEME=${TARGET_SCHEME[$t]:-http}
	"$@" || rc=$?
	PROBE_CURL=
	return "$rc"
}
start_wasmgate_h2() { with_probe wasmgate-h2 start_wasmgate_with wasmgate-h2.hcl.tmpl wasmgate-h2; }
start_wasmgate_h2c() { with_probe wasmgate-h2c start_wasmgate_with wasmgate-h2c.hcl.tmpl wasmgate-h2c; }
start_wasmgate_h3() { with_probe wasmgate-h3 start_wasmgate_with wasmgate-h3.hcl.tmpl wasmgate-h3; }

# start_nginx_with TEMPLATE NAME: nginx with the config from TEMPLATE.
start_nginx_with() {
	local tmpl=$1 name=$2 port dir=$WORK/$2 pid
	free_port || return 1
	port=$PORT
	mkdir -p "$dir"
	render "$tmpl" "$OUT/conf/$name.conf" "$port" "$dir"
	"${PIN_PROXY[@]}" nginx -p "$dir" -e "$OUT/logs/$name-error.log" -c "$OUT/conf/$name.conf" \
		>"$OUT/logs/$name.log" 2>&1 &
	pid=$!
	track_pid "$pid"
	wait_ready "$name" "$pid" "$port" "$OUT/logs/$name-error.log" || return 1
	TARGET_PORT=$port
}
start_nginx_bare() { start_nginx_with nginx-bare.conf.tmpl nginx-bare; }
start_nginx_h2() { with_probe nginx-h2 start_nginx_with nginx-h2.conf.tmpl nginx-h2; }
start_nginx_h2c() { with_probe nginx-h2c start_nginx_with nginx-h2c.conf.tmpl nginx-h2c; }

declare -A SKIPPED=()
skip_target() {
	SKIPPED[$1]=$2
	log "SKIP $1: $2"
}

# --------------------------------------------------------------- load tools

# run_bounded SECONDS OUTFILE COMMAND...: runs COMMAND pinned to LOAD_CPU,
# killed after SECONDS, output to OUTFILE. It runs in the background and is
# waited for, so a signal reaches the trap at once and cleanup stops it.
run_bounded() {
	local secs=$1 outfile=$2 rc=0
	shift 2
	timeout "$secs" "${PIN_LOAD[@]}" "$@" >"$outfile" 2>&1 &
	LOAD_PID=$!
	wait "$LOAD_PID" || rc=$?
	LOAD_PID=
	return "$rc"
}

# load_wrk URL CONNS DURATION OUTFILE: one wrk run; writes wrk's output to
# OUTFILE and sets LOAD_RESULT to
# "REQ_PER_SEC P99_MS REQUESTS NON2XX SOCKET_ERRORS". Fails when wrk fails or
# its output cannot be parsed. Load tools must not run in a subshell (so no
# $(load_...)): cleanup has to see LOAD_PID.
# cpu_ticks CPU: "BUSY TOTAL", the clock ticks so far of CPU (busy: user,
# nice, system, irq, softirq and steal in /proc/stat; total: every field).
# Nothing but the proxy is pinned to PROXY_CPU, so over a run its busy time
# is the proxy's CPU time, its share of kernel network work included; on
# LOAD_CPU it is the backend's and wrk's.
cpu_ticks() {
	awk -v cpu="cpu$1" '$1 == cpu { t = 0; for (i = 2; i <= NF; i++) t += $i; print $2 + $3 + $4 + $7 + $8 + $9, t }' /proc/stat 2>/dev/null || echo 0 0
}

# cpu_us_per_request BEFORE AFTER REQUESTS TARGET: the proxy CPU's busy
# microseconds per request over a run, or -1 for the direct target (no
# proxy) or when the proxy is not pinned.
cpu_us_per_request() {
	local before=$1 after=$2 reqs=$3 t=$4 hz
	if [[ $t == direct || ${#PIN_PROXY[@]} -eq 0 || $reqs -le 0 ]]; then
		echo -1
		return
	fi
	hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
	awk -v d=$((after - before)) -v n="$reqs" -v hz="$hz" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }'
}

# busy_pct BUSY0 TOTAL0 BUSY1 TOTAL1: how busy a CPU was between two
# cpu_ticks readings, in percent; -1 when no time passed or the CPUs are
# not pinned (then other work shares them).
busy_pct() {
	if ((${#PIN_PROXY[@]} == 0 || $4 <= $2)); then
		echo -1
		return
	fi
	awk -v b=$(($3 - $1)) -v t=$(($4 - $2)) 'BEGIN { printf "%.1f", b * 100 / t }'
}

load_wrk() {
	local url=$1 conns=$2 dur=$3 outfile=$4 guard
	guard=$(($(seconds "$dur") + 30))
	if ! run_bounded "$guard" "$outfile" wrk -t"$THREADS" -c"$conns" -d"$dur" \
		--latency --timeout 5s "$url"; then
		log "wrk failed (see $outfile):"
		cat "$outfile" >&2
		return 1
	fi
	LOAD_RESULT=$(awk '
		function ms(v,    n, u) {
			if (!match(v, /^[0-9.]+/)) return -1
			n = substr(v, 1, RLENGTH) + 0
			u = substr(v, RLENGTH + 1)
			if (u == "us") return n / 1000
			if (u == "ms") return n
			if (u == "s")  return n * 1000
			if (u == "m")  return n * 60000
			if (u == "h")  return n * 3600000
			return -1
		}
		/^[ \t]*99%/                 { p99 = ms($2) }
		/ requests in /              { reqs = $1 }
		/^Requests\/sec:/            { rps = $2 }
		/Non-2xx or 3xx responses:/  { non2xx = $NF }
		/Socket errors:/ {
			gsub(",", "")
			sockerr = $4 + $6 + $8 + $10
		}
		END {
			if (rps == "" || p99 == "" || p99 < 0 || reqs == "") exit 1
			printf "%s %.3f %d %d %d\n", rps, p99, reqs, non2xx + 0, sockerr + 0
		}
	' "$outfile") || {
		log "cannot parse wrk output in $outfile"
		return 1
	}
}

# load_h2load URL CONNS DURATION OUTFILE: one h2load run (-c CONNS, -m
# H2_STREAMS streams each, THREADS threads, -D DURATION), with the contract
# of load_wrk. h2load reports no percentiles: the P99 field holds the mean
# request time. Failed and errored requests count as socket errors, non-2xx
# statuses as NON2XX.
load_h2load() {
	local url=$1 conns=$2 dur=$3 outfile=$4 guard
	guard=$(($(seconds "$dur") + 30))
	if ! run_bounded "$guard" "$outfile" h2load -t"$THREADS" -c"$conns" -m"$H2_STREAMS" \
		-D "$(seconds "$dur")" "$url"; then
		log "h2load failed (see $outfile):"
		cat "$outfile" >&2
		return 1
	fi
	LOAD_RESULT=$(awk '
		function ms(v,    n, u) {
			if (!match(v, /^[0-9.]+/)) return -1
			n = substr(v, 1, RLENGTH) + 0
			u = substr(v, RLENGTH + 1)
			if (u == "us") return n / 1000
			if (u == "ms") return n
			if (u == "s")  return n * 1000
			return -1
		}
		/^finished in/    { rps = $4 }
		/^requests:/      { reqs = $2; failed = $10 + $12 }
		/^status codes:/  { gsub(",", ""); non2xx = $5 + $7 + $9 }
		/^time for request:/ { mean = ms($6) }
		END {
			if (rps == "" || reqs == "" || mean == "" || mean < 0) exit 1
			printf "%s %.3f %d %d %d\n", rps, mean, reqs, non2xx + 0, failed + 0
		}
	' "$outfile") || {
		log "cannot parse h2load output in $outfile"
		return 1
	}
}

# load_h3load URL CONNS DURATION OUTFILE: one hack/h3load run (-c CONNS QUIC
# connections, -m H2_STREAMS streams each, -d DURATION, the run's CA), with
# the contract of load_wrk. P99 is h3load's 99th percentile; errors count
# as socket errors.
load_h3load() {
	local url=$1 conns=$2 dur=$3 outfile=$4 guard
	guard=$(($(seconds "$dur") + 30))
	if ! run_bounded "$guard" "$outfile" "$WORK/h3load" -c "$conns" -m "$H2_STREAMS" \
		-d "$(seconds "$dur")s" -cacert "$WORK/certs/ca.pem" "$url"; then
		log "h3load failed (see $outfile):"
		cat "$outfile" >&2
		return 1
	fi
	LOAD_RESULT=$(awk '
		/^rps:/     { rps = $2 }
		/^p99_ms:/  { p99 = $2 }
		/^requests:/ { reqs = $2 }
		/^non2xx:/  { non2xx = $2 }
		/^errors:/  { errs = $2 }
		END {
			if (rps == "" || p99 == "" || reqs == "") exit 1
			printf "%s %.3f %d %d %d\n", rps, p99, reqs, non2xx + 0, errs + 0
		}
	' "$outfile") || {
		log "cannot parse h3load output in $outfile"
		return 1
	}
}

# ---------------------------------------------------------------------- run

log "results go to $OUT"
"${PIN_LOAD[@]}" "$WORK/benchbackend" -addr "$BACKEND_ADDR" >"$OUT/logs/benchbackend.log" 2>&1 &
BACKEND_PID=$!
track_pid "$BACKEND_PID"
wait_ready benchbackend "$BACKEND_PID" "$BACKEND_PORT" "$OUT/logs/benchbackend.log" ||
	die "the backend did not start"

declare -A PORT_OF=()
ACTIVE=()
for t in "${TARGET_LIST[@]}"; do
	TARGET_PORT=
	if ! "${TARGET_START[$t]}"; then
		FAILURES+=("$t: failed to start (logs in $OUT/logs)")
		log "FAIL $t: failed to start"
		continue
	fi
	if [[ -n ${SKIPPED[$t]:-} ]]; then continue; fi
	PORT_OF[$t]=$TARGET_PORT
	ACTIVE+=("$t")
	log "$t ready on 127.0.0.1:$TARGET_PORT"
done

# Round r runs the targets starting at index (r-1) mod N of ACTIVE, keeping
# their relative order, and the connection counts likewise rotated (within
# each target), so no target always runs first (right after start-up or a
# pause) or always in the same slot of the round. Each target still follows
# the same neighbour except in the round it goes first. The order of every
# round is logged and kept in $OUT/logs/round-order.tsv.
for ((round = 1; round <= ROUNDS; round++)); do
	ORDER=()
	for ((i = 0; i < ${#ACTIVE[@]}; i++)); do
		ORDER+=("${ACTIVE[(round - 1 + i) % ${#ACTIVE[@]}]}")
	done
	ROUND_CONNS=()
	for ((i = 0; i < ${#CONNS_LIST[@]}; i++)); do
		ROUND_CONNS+=("${CONNS_LIST[(round - 1 + i) % ${#CONNS_LIST[@]}]}")
	done
	log "round $round/$ROUNDS order: ${ORDER[*]:-(none)}; conns ${ROUND_CONNS[*]}"
	printf '%s\t%s\t%s\n' "$round" "${ORDER[*]:-}" "${ROUND_CONNS[*]}" >>"$OUT/logs/round-order.tsv"
	for t in "${ORDER[@]}"; do
		tool=${TARGET_TOOL[$t]}
		url=${TARGET_SCHEME[$t]:-http}://127.0.0.1:${PORT_OF[$t]}/
		if ! kill -0 "$BACKEND_PID" 2>/dev/null; then
			die "the backend died"
		fi
		if ! "load_$tool" "$url" "$MAX_CONNS" "$WARMUP" "$OUT/wrk/$t-warmup-r$round.txt"; then
			FAILURES+=("$t: warm-up failed in round $round")
			continue
		fi
		for c in "${ROUND_CONNS[@]}"; do
			out=$OUT/wrk/$t-c$c-r$round.txt
			read -r pbusy0 ptotal0 <<<"$(cpu_ticks "$PROXY_CPU")"
			read -r lbusy0 ltotal0 <<<"$(cpu_ticks "$LOAD_CPU")"
			if ! "load_$tool" "$url" "$c" "$DURATION" "$out"; then
				FAILURES+=("$t c=$c round $round: $tool failed")
				continue
			fi
			read -r pbusy1 ptotal1 <<<"$(cpu_ticks "$PROXY_CPU")"
			read -r lbusy1 ltotal1 <<<"$(cpu_ticks "$LOAD_CPU")"
			read -r rps p99 reqs non2xx sockerr <<<"$LOAD_RESULT"
			cpu_us=$(cpu_us_per_request "$pbusy0" "$pbusy1" "$reqs" "$t")
			proxy_pct=-1
			if [[ $cpu_us != -1 ]]; then
				proxy_pct=$(busy_pct "$pbusy0" "$ptotal0" "$pbusy1" "$ptotal1")
			fi
			load_pct=$(busy_pct "$lbusy0" "$ltotal0" "$lbusy1" "$ltotal1")
			status=ok
			if ((non2xx > 0)); then
				status=fail
				FAILURES+=("$t c=$c round $round: $non2xx non-2xx responses")
			fi
			if ((sockerr > 0)); then
				status=fail
				FAILURES+=("$t c=$c round $round: $sockerr socket errors ($(grep 'Socket errors' "$out" | sed 's/^ *//'))")
			fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
				"$t" "$c" "$round" "$rps" "$p99" "$reqs" "$non2xx" "$sockerr" "$status" "$cpu_us" "$proxy_pct" "$load_pct" >>"$RESULTS_TSV"
			log "round $round/$ROUNDS $t c=$c: $rps req/s, p99 ${p99}ms, proxy CPU ${cpu_us}us/req, busy: proxy CPU ${proxy_pct}%, load CPU ${load_pct}%$([[ $status == ok ]] || echo ", FAILED")"
		done
	done
done

# ---------------------------------------------------------------- summary

# Metadata for the JSON file.
ver() {
	local v
	v=$("$@" 2>&1 | head -n 1) || true
	printf '%s' "${v//[\"\\]/}"
}
NGINX_VERSION=$(ver nginx -v)
HAPROXY_VERSION=$(ver haproxy -v)
WRK_VERSION=$(ver wrk -v)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
RUN_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
REPORT_PROXY_CPU=${PIN_PROXY[*]:+$PROXY_CPU}
REPORT_LOAD_CPU=${PIN_LOAD[*]:+$LOAD_CPU}
SKIPPED_NAMES=${!SKIPPED[*]}
SKIPPED_LIST=
for t in "${!SKIPPED[@]}"; do
	SKIPPED_LIST+="$t: ${SKIPPED[$t]//[\"\\]/}$SEP"
done
FAILURE_LIST=
for f in "${FAILURES[@]}"; do
	FAILURE_LIST+="${f//[\"\\]/}$SEP"
done

summarize "$RESULTS_TSV" "$OUT/bench-results.json"

echo
for t in "${!SKIPPED[@]}"; do
	echo "skipped $t: ${SKIPPED[$t]}"
done
echo "results: $OUT/bench-results.json (wrk outputs in $OUT/wrk, configs in $OUT/conf, logs in $OUT/logs)"
if ((${#FAILURES[@]} > 0)); then
	echo "FAILURES:"
	printf '  %s\n' "${FAILURES[@]}"
	exit 1
fi
}
