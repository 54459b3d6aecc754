//! The incident report of the real-kernel fixtures (tests/captures/*.pcap, the "busy" report of
//! all of them together) opened in headless Chromium, checked for what a person would see: the
//! page loads and its script runs without errors, one ladder per stale ACK, each ladder shows
//! its frame numbers and its cause, and a screenshot is not blank.
//!
//! Chromium comes from Debian (`scripts/setup.sh` installs it). Without it the test says
//! SKIPPED and passes, unless CI=true or ACKSCOPE_REQUIRE_CHROMIUM=1 demand it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn captures_in_time_order() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures");
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .map(|p| {
            // Classic little-endian µs pcap: the first record's seconds and µs follow the 24-byte header.
            let b = std::fs::read(&p).unwrap();
            let t = if b.len() >= 32 {
                u64::from(u32::from_le_bytes(b[24..28].try_into().unwrap())) * 1_000_000 + u64::from(u32::from_le_bytes(b[28..32].try_into().unwrap()))
            } else {
                0
            };
            (t, p)
        })
        .collect();
    v.sort();
    assert!(v.len() >= 10, "fixtures missing in {}", dir.display());
    v.into_iter().map(|(_, p)| p).collect()
}

fn chromium() -> Option<PathBuf> {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(c).is_file() {
            return Some(c.into());
        }
    }
    None
}

fn required() -> bool {
    std::env::var("CI").as_deref() == Ok("true") || std::env::var("ACKSCOPE_REQUIRE_CHROMIUM").as_deref() == Ok("1")
}

/// Run headless Chromium on `page` with `extra` arguments and a new empty profile.
fn run_chromium(bin: &Path, scratch: &Path, tag: &str, extra: &[String], page: &Path) -> (String, String) {
    let profile = scratch.join(format!("profile-{tag}"));
    std::fs::create_dir_all(&profile).unwrap();
    let out = Command::new("timeout")
        .arg("90")
        .arg(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium {tag} failed ({}): {stderr}", out.status);
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn busy_fixture_report_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        if required() {
            panic!("chromium not found but required (CI=true or ACKSCOPE_REQUIRE_CHROMIUM=1): run `bash scripts/setup.sh` as root");
        }
        eprintln!("SKIPPED busy_fixture_report_renders_in_headless_chromium: chromium is not installed (run `bash scripts/setup.sh` as root; it installs Debian's chromium)");
        return;
    };
    let files = captures_in_time_order();
    let scratch = std::env::temp_dir().join(format!("ackscope-report-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(scratch.clone());

    // What the engine says about the same input, in the same order.
    let out = Command::new(env!("CARGO_BIN_EXE_ackscope")).args(["replay", "-q", "--format", "json"]).args(&files).output().unwrap();
    assert!(out.status.success());
    let stale: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == "stale_ack")
        .collect();
    assert!(stale.len() >= 6, "the fixtures hold at least 6 stale ACKs, got {}", stale.len());

    let page = scratch.join("busy.html");
    let rep = Command::new(env!("CARGO_BIN_EXE_ackscope")).arg("report").args(&files).arg("-o").arg(&page).output().unwrap();
    assert!(rep.status.success(), "{}", String::from_utf8_lossy(&rep.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    for banned in ["http://", "https://", "<link", "src=\"", "@import", "url(http"] {
        assert!(!html.contains(banned), "the report must be self-contained, found {banned:?}");
    }

    // 1. The DOM after load: the script ran (it writes the ladder count and sets data-js=ok),
    //    no error was caught, nothing logged as uncaught.
    let (dom, stderr) = run_chromium(&bin, &scratch, "dom", &["--dump-dom".into()], &page);
    assert!(dom.contains("data-js=\"ok\""), "the page's script did not finish: {}", &dom[..dom.len().min(600)]);
    if let Some(i) = dom.find("data-js-error=\"") {
        panic!("a script error was caught in the page: {}", &dom[i..dom.len().min(i + 200)]);
    }
    for bad in ["Uncaught", "ERR_FILE_NOT_FOUND", "net::ERR"] {
        assert!(!stderr.contains(bad), "chromium logged {bad}: {stderr}");
    }
    let want_status = format!("{} ladders drawn", stale.len());
    assert!(dom.contains(&want_status), "status line should say {want_status:?}");

    // The summary and tables a person reads first.
    for needle in ["Stale ACKs by cause and outcome", "<svg id=\"series\"", "<svg id=\"reuse\"", "TIME_WAIT 1 min", "<table class=\"sortable\" id=\"servers\"", "<table class=\"sortable\" id=\"clients\"", "What this means"] {
        assert!(dom.contains(needle), "the page lacks {needle:?}");
    }

    // 2. One ladder per stale ACK, each with its frame numbers and its cause.
    let sections: Vec<&str> = dom.split("<section class=\"ladder\"").skip(1).map(|s| s.split("</section>").next().unwrap()).collect();
    assert_eq!(sections.len(), stale.len(), "ladders vs stale ACKs");
    for e in &stale {
        let frame = e["frame"].as_u64().unwrap();
        let cause = e["cause"].as_str().unwrap();
        let client = e["client"].as_str().unwrap();
        let sec = sections
            .iter()
            .find(|s| s.contains(&format!("data-frame=\"{frame}\"")) && s.contains(client))
            .unwrap_or_else(|| panic!("no ladder for the stale ACK of {client} at frame {frame}"));
        assert!(sec.contains(&format!(">#{frame}</text>")), "ladder of {client}: the stale ACK's frame #{frame} is not drawn");
        assert!(sec.contains(&format!("stale ACK frame #{frame}")), "ladder of {client}: heading lacks the frame");
        assert!(sec.contains("<b class=\"cause") && sec.contains(&format!(">{cause}</b>")), "ladder of {client}: cause {cause} not shown");
        assert!(sec.contains("stale ACK ack="), "ladder of {client}: no stale ACK arrow");
        assert!(sec.contains("SYN ISN="), "ladder of {client}: no reuse SYN");
        let frames = sec.matches("class=\"fr\">#").count();
        assert!(frames >= 3, "ladder of {client}: only {frames} frame numbers");
        assert!(sec.contains("previous connection: its last segments"), "ladder of {client}: previous connection missing");
    }

    // 3. A screenshot, not blank: many non-white pixels and many colours.
    let shot = scratch.join("busy.png");
    run_chromium(
        &bin,
        &scratch,
        "shot",
        &["--hide-scrollbars".into(), "--window-size=1200,2400".into(), format!("--screenshot={}", shot.display())],
        &page,
    );
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).expect("screenshot written")));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 2400));
    let bpp = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let mut nonwhite = 0usize;
    let mut colours = std::collections::HashSet::new();
    for p in px.chunks(bpp) {
        if p[..3].iter().any(|&c| c < 235) {
            nonwhite += 1;
        }
        colours.insert((p[0] >> 3, p[1] >> 3, p[2] >> 3));
    }
    let total = (info.width * info.height) as usize;
    assert!(nonwhite * 100 > total * 2, "screenshot nearly blank: {nonwhite} of {total} pixels not white");
    assert!(colours.len() > 30, "screenshot has only {} colours", colours.len());
    if let Ok(dir) = std::env::var("ACKSCOPE_REPORT_SHOT_DIR") {
        std::fs::copy(&shot, Path::new(&dir).join("report-busy.png")).unwrap();
        std::fs::copy(&page, Path::new(&dir).join("report-busy.html")).unwrap();
    }
}
