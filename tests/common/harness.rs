//! The agent's pipeline as the integration tests drive it: a simulated clock, a fake NIC, the
//! real sampler writing the ring in a fresh state directory, and the real pusher, configured
//! for one customer. A test says only where its clock starts, which customer it talks to and
//! how its settings differ:
//!
//! ```ignore
//! let h = Harness::at(T0, 9_000_000).customer(&customer).config(|c| c.verify_days = 0).build();
//! let (mut sampler, mut pusher) = (h.sampler(), h.pusher());
//! ```

use std::path::Path;

use pushagent::clock::{Clock, SimClock};
use pushagent::config::{AgentConfig, SharedConfig};
use pushagent::daemon::{build_pusher, tally_config};
use pushagent::push::client::CustomerClient;
use pushagent::push::outbox::Outbox;
use pushagent::push::pusher::Pusher;
use pushagent::push::report::{self, BuildRules};
use pushagent::ring::Ring;
use pushagent::sampler::Sampler;
use pushagent::shutdown::Shutdown;
use pushagent::slots::ReportTz;
use pushagent::tally::TallyConfig;

use super::customer::Customer;
use super::SharedNic;

/// Days of ring the sampler keeps in every harness (the agent's default).
const RING_DAYS: u32 = 35;
const HOUR_MS: i64 = 3_600_000;

/// The clock, the NIC, the settings and the state directory of one simulated agent.
pub struct Harness {
    pub clock: SimClock,
    pub nic: SharedNic,
    /// The settings the sampler and the pusher are built with.
    pub config: AgentConfig,
    dir: tempfile::TempDir,
}

type MakeConfig<'c> = Box<dyn FnOnce(&Path) -> AgentConfig + 'c>;
type TuneConfig<'c> = Box<dyn FnOnce(&mut AgentConfig) + 'c>;

pub struct HarnessBuilder<'c> {
    wall_ms: i64,
    boot_ms: u64,
    make_config: MakeConfig<'c>,
    tune: Vec<TuneConfig<'c>>,
}

impl Harness {
    /// A harness whose clock starts at `wall_ms` (unix ms) and `boot_ms`; without a
    /// customer its settings are the defaults with the state directory set.
    pub fn at<'c>(wall_ms: i64, boot_ms: u64) -> HarnessBuilder<'c> {
        HarnessBuilder {
            wall_ms,
            boot_ms,
            make_config: Box::new(|dir| AgentConfig { state_dir: dir.to_owned(), ..Default::default() }),
            tune: Vec::new(),
        }
    }

    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The real sampler on a ring in the state directory, reading the fake NIC, tallying as
    /// the settings say, in the default report time zone.
    pub fn sampler(&self) -> Sampler<'_> {
        self.sampler_with(tally_config(&self.config), ReportTz::default())
    }

    pub fn sampler_with(&self, tally: TallyConfig, tz: ReportTz) -> Sampler<'_> {
        let (ring, _) = Ring::open(&self.config.state_db_path()).expect("ring");
        Sampler::new(&self.clock, Box::new(self.nic.clone()), ring, tally, tz, RING_DAYS, Shutdown::new())
            .expect("sampler")
    }

    /// The sampler following the push switch of `PushSwitch`, which starts as the settings say.
    pub fn sampler_following_switch(&self) -> (Sampler<'_>, PushSwitch) {
        let switch =
            PushSwitch { config: self.config.clone(), shared: SharedConfig::new(self.config.clone()) };
        (self.sampler().following_push_switch(switch.shared.clone()), switch)
    }

    /// The pusher as the agent builds it (after the state database was opened, e.g. by `sampler`).
    pub fn pusher(&self) -> Pusher<'_> {
        build_pusher(&self.config, &self.clock).expect("pusher")
    }

    /// A pusher with no sampler in front: `hours` hours of `mac` from `first_hour_ms` built
    /// (all points zero) and pending in a fresh outbox.
    pub fn pusher_with_pending_hours(&self, mac: &str, first_hour_ms: i64, hours: i64) -> Pusher<'_> {
        let path = self.config.state_db_path();
        let (ring, _) = Ring::open(&path).expect("ring");
        let mut outbox = Outbox::open(&path).expect("outbox");
        let rules =
            BuildRules::from_settings(self.config.customer.billed_direction, &self.config.report, true, None);
        for n in 0..hours {
            let hour_start = first_hour_ms + n * HOUR_MS;
            let built = report::build(mac, hour_start, &[], &ReportTz::default(), &rules);
            outbox.commit_hour(&[built], hour_start + HOUR_MS, self.clock.wall_ms()).expect("commit");
        }
        let client = CustomerClient::new(&self.config.customer).expect("client");
        Pusher {
            clock: &self.clock,
            config: self.config.clone(),
            ring,
            outbox,
            client,
            health: Default::default(),
        }
    }
}

/// The push switch as the config service turns it: the config the sampler follows, and the
/// pusher's.
pub struct PushSwitch {
    config: AgentConfig,
    shared: SharedConfig,
}

impl PushSwitch {
    pub fn set(&mut self, on: bool, pusher: &mut Pusher<'_>) {
        self.config.push_enabled = on;
        self.shared.replace(self.config.clone());
        pusher.reconfigure(self.config.clone()).expect("reconfigure");
    }
}

impl<'c> HarnessBuilder<'c> {
    /// Settings that push to the reference customer.
    pub fn customer(mut self, customer: &'c Customer) -> Self {
        self.make_config = Box::new(|dir| customer.agent_config(dir));
        self
    }

    /// Settings made for the state directory by `make` (a test's own base settings).
    pub fn settings(mut self, make: impl FnOnce(&Path) -> AgentConfig + 'c) -> Self {
        self.make_config = Box::new(make);
        self
    }

    /// Settings that push to whatever listens at `base_url`, with the reference customer's
    /// credentials and ids.
    pub fn customer_url(mut self, base_url: &str) -> Self {
        let base_url = base_url.to_owned();
        self.make_config = Box::new(move |dir| {
            let mut config = AgentConfig { state_dir: dir.to_owned(), ..Default::default() };
            config.customer.base_url = base_url;
            config.customer.access_id = super::customer::ACCESS_ID.into();
            config.customer.secret = pushagent::config::Secret::new(super::customer::SECRET);
            config.report.provider_id = "P".into();
            config.report.provider_uiid = "U".into();
            config
        });
        self
    }

    /// Change the settings (applied in order, after the customer's).
    pub fn config(mut self, tune: impl FnOnce(&mut AgentConfig) + 'c) -> Self {
        self.tune.push(Box::new(tune));
        self
    }

    pub fn build(self) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = (self.make_config)(dir.path());
        for tune in self.tune {
            tune(&mut config);
        }
        Harness { clock: SimClock::new(self.wall_ms, self.boot_ms), nic: SharedNic::new(), config, dir }
    }
}
