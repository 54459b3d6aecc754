use super::*;

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

fn strs(v: &[OsString]) -> Vec<String> {
    v.iter().map(|s| s.to_string_lossy().into_owned()).collect()
}

#[test]
fn every_key_becomes_its_option() {
    let text = r#"
mode = "inline"
iface = "eth1"
peer = "eth2"
on_exit = "disconnect"
queues = 4
cores = [2, 3]
xdp_mode = "native"
bind = "copy"
busy_poll = true
umem_frames = 8192
ring_size = 1024
reorder_window_us = 500
kernel_flows = 1024
duration = 1.5
force = false
metrics = "127.0.0.1:9464"
metrics_top_servers = 5
summary_json = "/tmp/summary.json"
no_kernel_view = true
output_grace = 2.5
time_wait = 120
connect_timeout = 3
max_flows = 1000
format = "json"
events = "/var/log/ackscope/eth1.jsonl"
quiet = true
pcap_dir = "/var/lib/ackscope/pcaps"
pcap_max_files = 10
"#;
    let f = RunFile::parse(text, Path::new("t.toml")).unwrap();
    let a = strs(&f.to_args());
    let want = [
        "--mode", "inline", "--iface", "eth1", "--peer", "eth2", "--on-exit", "disconnect", "--queues", "4", "--cores", "2,3",
        "--xdp-mode", "native", "--bind", "copy", "--umem-frames", "8192", "--ring-size", "1024", "--reorder-window-us", "500",
        "--kernel-flows", "1024", "--duration", "1.5", "--metrics", "127.0.0.1:9464", "--metrics-top-servers", "5",
        "--summary-json", "/tmp/summary.json", "--output-grace", "2.5",
        "--time-wait", "120", "--connect-timeout", "3", "--max-flows", "1000", "--format", "json", "--events",
        "/var/log/ackscope/eth1.jsonl", "--pcap-dir", "/var/lib/ackscope/pcaps", "--pcap-max-files", "10", "--busy-poll",
        "--no-kernel-view", "--quiet",
    ];
    assert_eq!(a, want);
    // Every key of KEYS is a field: a file with all of them parses (the text above has all).
    for k in KEYS {
        assert!(text.contains(&format!("\n{k} = ")), "{k} missing from the test file");
    }
}

#[test]
fn unknown_key_names_the_key_and_the_file() {
    let e = RunFile::parse("mode = \"mirror\"\nreorder_window = 5\n", Path::new("/etc/ackscope/eth1.toml")).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("/etc/ackscope/eth1.toml"), "{m}");
    assert!(m.contains("reorder_window"), "{m}");
    assert!(m.contains("line 2"), "{m}");
}

#[test]
fn wrong_values_are_errors_naming_the_key() {
    for (text, key) in [
        ("mode = \"span\"", "mode"),
        ("queues = \"some\"", "queues"),
        ("duration = -1.0", "duration"),
        ("bind = \"fast\"", "bind"),
        ("iface = \"\"", "iface"),
    ] {
        let m = RunFile::parse(text, Path::new("c.toml")).unwrap_err().to_string();
        assert!(m.contains(&format!("`{key}`")) && m.contains("c.toml"), "{text}: {m}");
    }
    // Wrong TOML type: the parser names the key.
    let m = RunFile::parse("umem_frames = \"many\"", Path::new("c.toml")).unwrap_err().to_string();
    assert!(m.contains("umem_frames") && m.contains("c.toml"), "{m}");
}

#[test]
fn files_go_before_the_command_line_in_order() {
    let dir = std::env::temp_dir().join(format!("ackscope-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
    std::fs::write(&a, "iface = \"eth1\"\nqueues = \"all\"\n").unwrap();
    std::fs::write(&b, "queues = 2\n").unwrap();
    let (ap, bp) = (a.display().to_string(), b.display().to_string());
    let out = strs(&expand_args(os(&["ackscope", "-v", "run", "--config", &ap, "--queues", "1", &format!("--config={bp}")])).unwrap());
    assert_eq!(
        out,
        ["ackscope", "-v", "run", "--iface", "eth1", "--queues", "all", "--queues", "2", "--config", &ap, "--queues", "1", &format!("--config={bp}")]
    );
    // Other subcommands and command lines without --config are left alone.
    let plain = os(&["ackscope", "replay", "--config", "x.toml", "f.pcap"]);
    assert_eq!(expand_args(plain.clone()).unwrap(), plain);
    let plain = os(&["ackscope", "run", "--iface", "eth0"]);
    assert_eq!(expand_args(plain.clone()).unwrap(), plain);
    // A missing file or a missing name is an error.
    let m = expand_args(os(&["ackscope", "run", "--config", "/nonexistent/ackscope.toml"])).unwrap_err().to_string();
    assert!(m.contains("/nonexistent/ackscope.toml"), "{m}");
    assert!(matches!(expand_args(os(&["ackscope", "run", "--config"])), Err(ConfigError::MissingPath)));
    assert!(matches!(expand_args(os(&["ackscope", "run", "--config", "--check"])), Err(ConfigError::MissingPath)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_finds_what_would_fail() {
    let r = check_live(&LiveCheck {
        iface: "ackscope-nonexistent0",
        umem_frames: 4096,
        ring_size: 2048,
        metrics: Some("not-an-address"),
        events: Some(Path::new("/nonexistent-dir/events.jsonl")),
        ..LiveCheck::default()
    });
    let all = r.problems.join("\n");
    assert!(all.contains("not a valid interface name"), "{all}");
    assert!(all.contains("--metrics not-an-address"), "{all}");
    assert!(all.contains("/nonexistent-dir"), "{all}");
    let r = check_live(&LiveCheck { iface: "lo", umem_frames: 3000, ring_size: 4096, ..LiveCheck::default() });
    let all = r.problems.join("\n");
    assert!(all.contains("--umem-frames 3000 is not a power of two"), "{all}");
    assert!(all.contains("--ring-size 4096 is larger"), "{all}");
    let ok = check_live(&LiveCheck { iface: "lo", umem_frames: 4096, ring_size: 2048, metrics: Some("127.0.0.1:0"), ..LiveCheck::default() });
    assert!(ok.problems.is_empty(), "{:?}", ok.problems);
    // A port in use is a problem.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let r = check_live(&LiveCheck { iface: "lo", umem_frames: 4096, ring_size: 2048, metrics: Some(&addr), ..LiveCheck::default() });
    assert!(r.problems.iter().any(|p| p.contains("cannot listen")), "{:?}", r.problems);
}

#[test]
fn iface_list_repeats_the_option_and_the_command_line_replaces_it() {
    let f = RunFile::parse("mode = \"mirror\"\niface = [\"tap0\", \"tap1\"]\n", Path::new("t.toml")).unwrap();
    assert_eq!(strs(&f.to_args()), ["--mode", "mirror", "--iface", "tap0", "--iface", "tap1"]);
    for text in ["iface = []", "iface = [\"tap0\", \"\"]"] {
        let m = RunFile::parse(text, Path::new("c.toml")).unwrap_err().to_string();
        assert!(m.contains("`iface`") && m.contains("c.toml"), "{text}: {m}");
    }
    let dir = std::env::temp_dir().join(format!("ackscope-config-iface-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
    std::fs::write(&a, "iface = [\"tap0\", \"tap1\"]\n").unwrap();
    std::fs::write(&b, "iface = \"tap2\"\nqueues = 1\n").unwrap();
    let (ap, bp) = (a.display().to_string(), b.display().to_string());
    // One file: its list.
    let out = strs(&expand_args(os(&["ackscope", "run", "--config", &ap])).unwrap());
    assert_eq!(out, ["ackscope", "run", "--iface", "tap0", "--iface", "tap1", "--config", &ap]);
    // A later file's interfaces replace an earlier one's (they would add up otherwise).
    let out = strs(&expand_args(os(&["ackscope", "run", "--config", &ap, "--config", &bp])).unwrap());
    assert_eq!(out, ["ackscope", "run", "--iface", "tap2", "--queues", "1", "--config", &ap, "--config", &bp]);
    // The command line's --iface replaces every file's.
    let out = strs(&expand_args(os(&["ackscope", "run", "--config", &ap, "--iface", "eth9"])).unwrap());
    assert_eq!(out, ["ackscope", "run", "--config", &ap, "--iface", "eth9"]);
    let out = strs(&expand_args(os(&["ackscope", "run", "--iface=eth9", "--config", &ap])).unwrap());
    assert_eq!(out, ["ackscope", "run", "--iface=eth9", "--config", &ap]);
    std::fs::remove_dir_all(&dir).unwrap();
}
