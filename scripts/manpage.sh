#!/usr/bin/env bash
# Writes the man page ackscope(1) from the binary's own --help texts, so it cannot drift from
# the options. Usage: scripts/manpage.sh BIN OUT (OUT: e.g. target/man/ackscope.1).
set -euo pipefail
BIN="$1" OUT="$2"
mkdir -p "$(dirname "$OUT")"
ver="$("$BIN" --version | awk '{print $2}')"
# roff-escape a --help text: backslashes, and lines starting with . or '.
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
{
    echo ".TH ACKSCOPE 1 \"\" \"ackscope $ver\" \"User Commands\""
    echo ".SH NAME"
    echo "ackscope \\- catch stale ACKs on reused TCP 4-tuples"
    echo ".SH SYNOPSIS"
    echo ".B ackscope"
    echo "[\\fB\\-v\\fR] \\fBreplay\\fR|\\fBrun\\fR|\\fBdemo\\fR|\\fBgen\\fR [\\fIOPTIONS\\fR]"
    echo ".SH DESCRIPTION"
    echo ".nf"
    "$BIN" --help | esc
    echo ".fi"
    for cmd in run replay demo gen; do
        echo ".SH \"ackscope $cmd\""
        echo ".nf"
        "$BIN" "$cmd" --help | esc
        echo ".fi"
    done
    cat <<'ROFF'
.SH FILES
.TP
.I /etc/ackscope/ackscope.toml
Options shared by every \fBackscope@\fR\fIIFACE\fR instance (TOML; keys are the options of
\fBackscope run\fR with _ for \-).
.TP
.I /etc/ackscope/IFACE.toml
Options of the instance on \fIIFACE\fR (mode, metrics address, events file); an example is
\fI/usr/share/ackscope/interface.toml.example\fR.
.TP
.I /etc/default/ackscope, /etc/default/ackscope\-IFACE
\fBACKSCOPE_ARGS\fR (command-line options, which win over the files) and \fBRUST_LOG\fR.
.TP
.I /lib/systemd/system/ackscope@.service
One instance per interface: \fBsystemctl enable \-\-now ackscope@\fR\fIIFACE\fR.
.TP
.I /var/log/ackscope/
Event files (JSON lines, \fI/usr/share/ackscope/events.schema.json\fR), rotated by
\fI/etc/logrotate.d/ackscope\fR; \fBsystemctl reload\fR (SIGHUP) reopens them.
.TP
.I /usr/share/ackscope/prometheus/
Alert rules, their \fBpromtool test rules\fR unit tests, a scrape configuration.
.TP
.I /usr/share/ackscope/grafana/
The dashboard (JSON) and a provisioning file.
.SH SEE ALSO
.BR promtool (1),
.BR systemd.exec (5),
.I /usr/share/doc/ackscope/README.md
ROFF
} >"$OUT"
