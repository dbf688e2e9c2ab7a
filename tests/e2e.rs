//! End-to-end tests: the real Worker under `wrangler dev`, fake SendGrid and Sentry.
//! One binary with its own `main` (libtest-mimic), so the Worker is started once before the
//! tests and stopped after them even when some fail. See tests/README.md.

#[path = "e2e/fake_sendgrid.rs"]
mod fake_sendgrid;
#[path = "e2e/fake_sentry.rs"]
mod fake_sentry;
#[path = "e2e/helpers.rs"]
mod helpers;
#[path = "e2e/postgres.rs"]
mod postgres;
#[path = "e2e/worker.rs"]
mod worker;

#[path = "e2e/account.rs"]
mod account;
#[path = "e2e/login.rs"]
mod login;
#[path = "e2e/observability.rs"]
mod observability;
#[path = "e2e/password_reset.rs"]
mod password_reset;
#[path = "e2e/rate_limit.rs"]
mod rate_limit;
#[path = "e2e/register.rs"]
mod register;
#[path = "e2e/system.rs"]
mod system;

use libtest_mimic::{Arguments, Trial};

macro_rules! trials {
    ($($module:ident :: $test:ident),* $(,)?) => {
        vec![$(Trial::test(concat!(stringify!($module), "::", stringify!($test)), || {
            $module::$test();
            Ok(())
        })),*]
    };
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = trials![
        system::root_names_the_service,
        system::health_checks_the_database,
        system::openapi_describes_every_route,
        system::docs_page_and_its_assets_are_served_locally,
        system::unknown_routes_are_404_problems,
        system::wrong_methods_are_405_with_allow,
        system::oversized_bodies_are_413,
        system::wrong_content_types_are_415,
        system::malformed_json_is_400,
        system::invalid_fields_are_422_naming_the_field,
        system::request_ids_are_echoed_or_generated,
        system::cors_allows_configured_origins_only,
        system::request_logs_carry_the_request_id,
        register::registration_mails_a_code_and_answers_201,
        register::taken_and_free_emails_get_identical_answers,
        register::unverified_reregistration_gets_a_fresh_code_and_keeps_the_password,
        register::common_and_overlong_passwords_are_refused,
        register::codes_are_stored_only_as_digests,
        register::a_code_works_once,
        register::wrong_codes_are_400_and_five_kill_the_code,
        register::twenty_concurrent_verifications_give_exactly_one_success,
        register::twenty_concurrent_registrations_give_one_account,
        register::resend_answers_alike_and_respects_the_cooldown,
        register::sendgrid_failing_never_breaks_registration,
        login::login_returns_a_token_and_an_http_only_cookie,
        login::the_oauth2_form_logs_in_too,
        login::unknown_email_and_wrong_password_look_alike,
        login::unverified_accounts_are_403_only_with_the_right_password,
        login::forged_tokens_are_401,
        login::the_cookie_authenticates_me,
        login::logout_revokes_the_session,
        login::hashes_from_elsewhere_verify_and_are_upgraded,
        account::update_user_changes_the_full_name,
        account::changing_the_password_needs_the_current_one,
        account::a_new_password_ends_other_sessions,
        account::an_email_change_waits_for_the_code,
        password_reset::forget_answers_alike_for_unknown_emails,
        password_reset::a_reset_token_works_once_and_ends_sessions,
        password_reset::bad_reset_tokens_are_400,
        password_reset::a_weak_new_password_leaves_the_token_usable,
        observability::metrics_count_exactly_the_requests_made,
        observability::auth_events_are_counted,
        observability::metrics_require_the_token,
        observability::an_internal_error_reaches_sentry_scrubbed,
        observability::a_failed_mail_is_reported,
        observability::a_panic_is_reported_by_the_next_request,
        rate_limit::one_ip_gets_exactly_the_limit_of_registrations,
        rate_limit::a_limit_resets_when_its_window_passes,
        rate_limit::a_hundred_concurrent_wrong_logins_check_few_passwords,
        rate_limit::unknown_emails_are_locked_out_alike,
        rate_limit::a_lockout_ends_after_its_backoff_and_success_resets_it,
        rate_limit::thirty_wrong_logins_in_a_row_meet_a_429,
        rate_limit::authenticated_routes_are_limited_per_user,
        rate_limit::logins_per_account_are_limited_whatever_the_ip,
    ];
    if worker::backend() == "postgres" {
        trials.extend(trials![system::a_stopped_database_is_503_within_seconds]);
    }
    let trials = trials.into_iter().map(|t| t.with_kind(worker::backend())).collect();
    let conclusion = {
        // Started only when a test will run; stopped when `_worker` drops, pass or fail.
        let _worker = (!args.list).then(worker::start_worker);
        libtest_mimic::run(&args, trials)
    };
    conclusion.exit();
}
