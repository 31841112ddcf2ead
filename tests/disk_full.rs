//! A full disk under the state database: the sampler cannot commit, keeps its last committed
//! reading as the base, says so in the agent's health, and recovers by itself once there is
//! space again, with every byte the kernel counted in the ring. The test mounts a small tmpfs
//! of its own (needs root, as CI is; set PUSHAGENT_SKIP_TMPFS=1 to skip) and unmounts it.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{SharedNic, T0};
use pushagent::clock::SimClock;
use pushagent::ring::Ring;
use pushagent::sampler::Sampler;
use pushagent::shutdown::Shutdown;
use pushagent::slots::ReportTz;
use pushagent::tally::TallyConfig;

/// A tmpfs mounted on a fresh directory, unmounted on drop (also when the test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "pushagent-test",
                &dir.path().to_string_lossy(),
            ])
            .status()
            .expect("run mount");
        assert!(status.success(), "mount tmpfs: {status}");
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Fill the file system with one file until a write fails (bounded by the tmpfs size).
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0u8; 16 * 1024];
    for _ in 0..4096 {
        if file.write_all(&chunk).and_then(|_| file.sync_all()).is_err() {
            return path;
        }
    }
    panic!("the tmpfs never filled up");
}

#[test]
fn a_full_disk_stops_commits_and_they_resume_with_every_byte_when_space_returns() {
    if std::env::var_os("PUSHAGENT_SKIP_TMPFS").is_some() {
        eprintln!("skipped: PUSHAGENT_SKIP_TMPFS is set");
        return;
    }
    assert!(is_root(), "this test mounts a tmpfs: it needs root (PUSHAGENT_SKIP_TMPFS=1 skips it)");
    let fs = Tmpfs::mount("4m");
    let db = fs.path().join("state.sqlite");
    let clock = SimClock::new(T0 + 5_000, 9_000_000);
    let nic = SharedNic::new();
    let (ring, _) = Ring::open(&db).expect("ring");
    let mut sampler = Sampler::new(
        &clock,
        Box::new(nic.clone()),
        ring,
        TallyConfig::default(),
        ReportTz::default(),
        35,
        Shutdown::new(),
    )
    .expect("sampler");
    let mut reading = |tx: u64| {
        clock.advance_ms(10_000);
        nic.with(|n| n.send(tx, 1_000));
        let result = sampler.sample(None);
        sampler.report_health(result.as_ref().err());
        (result.is_ok(), sampler.health.snapshot())
    };
    for _ in 0..30 {
        assert!(reading(10_000_000).0, "commits while there is space");
    }

    let filler = fill(fs.path());
    let mut failures = 0;
    let mut reported = None;
    for _ in 0..600 {
        let (ok, health) = reading(10_000_000);
        if !ok {
            failures += 1;
            reported = health.sampler_cannot_commit.clone();
            if failures == 40 {
                assert!(health.timeline_stuck_since.is_some(), "the timeline stands still: {health:?}");
                break;
            }
        }
    }
    assert_eq!(failures, 40, "readings could not be committed on the full disk");
    let reported = reported.expect("the health says the sampler cannot commit");
    assert!(reported.why.contains("full"), "{reported:?}");

    std::fs::remove_file(filler).expect("free the space");
    let mut resumed = false;
    for _ in 0..20 {
        if reading(10_000_000).0 {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "commits resume by themselves once there is space");
    for _ in 0..30 {
        let (ok, health) = reading(10_000_000);
        assert!(ok, "commits");
        assert!(
            health.sampler_cannot_commit.is_none() && health.timeline_stuck_since.is_none(),
            "{health:?}"
        );
    }
    let (rx, tx) = Ring::open_existing(&db).expect("ring").totals().expect("totals");
    let (truth_rx, truth_tx) = nic.with(|n| (n.truth_rx, n.truth_tx));
    assert_eq!(
        (u128::from(tx), u128::from(rx)),
        (truth_tx, truth_rx),
        "every byte counted across the outage"
    );
}
