//! End-to-end tests: the real Worker under `wrangler dev`, fake SendGrid and Sentry. One
//! binary with its own `main` (libtest-mimic), so the Worker instances are started before
//! the tests and stopped after them even when some fail. One file per capability, each
//! listing its tests in `tests()`; `main` refuses to run if a test function is missing
//! from its file's list. See tests/README.md.

/// `trials![a, b]` in a test file: its tests, named `file::test`.
#[macro_export]
macro_rules! trials {
    ($($test:ident),* $(,)?) => {{
        let module = module_path!().rsplit("::").next().unwrap();
        vec![$(libtest_mimic::Trial::test(format!("{module}::{}", stringify!($test)), || {
            $test();
            Ok(())
        })),*]
    }};
}

mod harness;

mod accounts;
mod browser;
mod limits;
mod mfa;
mod oauth;
mod observability;
mod passkeys;
mod password_reset;
mod refresh;
mod sessions;
mod signing;
mod system;

use libtest_mimic::{Arguments, Trial};

/// Each test file: its name, its source (to find every `pub fn` test in it) and its tests.
fn files() -> Vec<(&'static str, &'static str, Vec<Trial>)> {
    vec![
        ("system", include_str!("system.rs"), system::tests()),
        ("accounts", include_str!("accounts.rs"), accounts::tests()),
        ("sessions", include_str!("sessions.rs"), sessions::tests()),
        ("refresh", include_str!("refresh.rs"), refresh::tests()),
        ("signing", include_str!("signing.rs"), signing::tests()),
        ("mfa", include_str!("mfa.rs"), mfa::tests()),
        ("oauth", include_str!("oauth.rs"), oauth::tests()),
        ("passkeys", include_str!("passkeys.rs"), passkeys::tests()),
        ("browser", include_str!("browser.rs"), browser::tests()),
        (
            "password_reset",
            include_str!("password_reset.rs"),
            password_reset::tests(),
        ),
        ("limits", include_str!("limits.rs"), limits::tests()),
        (
            "observability",
            include_str!("observability.rs"),
            observability::tests(),
        ),
    ]
}

/// A test written but left out of its file's `tests()` would never run: refuse that.
fn assert_every_test_is_listed(file: &str, source: &str, trials: &[Trial]) {
    for line in source.lines() {
        let Some(name) = line.strip_prefix("pub fn ").and_then(|rest| rest.strip_suffix("() {")) else {
            continue;
        };
        let listed = trials.iter().any(|t| t.name() == format!("{file}::{name}"));
        assert!(listed, "{file}.rs: `{name}` is not in its tests() list");
    }
}

/// Every answer a route gave that its registration does not document (the Worker logs them).
fn undocumented_answers() -> Vec<String> {
    harness::logs()
        .iter()
        .flat_map(|log| {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|line| line.contains(r#""message":"undocumented answer""#))
        .collect()
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for (file, source, tests) in files() {
        assert_every_test_is_listed(file, source, &tests);
        trials.extend(tests);
    }
    let backend = harness::worker::backend();
    let trials = trials
        .into_iter()
        .map(|t| {
            let postgres_only = system::POSTGRES_ONLY.iter().any(|name| t.name().ends_with(name));
            t.with_ignored_flag(postgres_only && backend != "postgres")
                .with_kind(backend)
        })
        .collect();
    if !args.list {
        // Started before the first test, so no test's time includes it.
        harness::spawn_app();
    }
    let mut conclusion = libtest_mimic::run(&args, trials);
    let undocumented = undocumented_answers();
    harness::stop_all();
    if !undocumented.is_empty() {
        eprintln!("answers their route does not document (fix the registration or the handler):");
        undocumented.iter().for_each(|line| eprintln!("  {line}"));
        conclusion.num_failed += 1;
    }
    conclusion.exit();
}
