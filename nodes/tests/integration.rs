//! End-to-end tests against the real `kukka` binary: `kukka up` on free
//! ports in a temporary directory, with its own `redis-server`, driven over
//! HTTP (and, for the web pages, through headless Chromium). One test binary
//! (modules below) so linking happens once.

mod integration {
    mod browser;
    mod cancel_saga;
    mod contract;
    mod correlation;
    pub mod harness;
    mod seed_scenario;
    mod views_rebuild;
    mod webdriver;
}
