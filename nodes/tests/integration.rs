//! End-to-end tests against the real `kukka` binary: `kukka up` on free
//! ports in a temporary directory, with its own `redis-server`, driven over
//! HTTP (and, for the web pages, through headless Chromium). One test binary
//! (modules below) so linking happens once.

mod integration {
    mod access;
    mod browser;
    mod bulkhead;
    pub mod cancel_saga;
    pub mod chaos;
    mod cluster_access;
    mod consumer_groups;
    mod contract;
    mod correlation;
    mod dead_letters;
    mod docs;
    mod durability;
    mod event_origin;
    pub mod harness;
    mod http_limits;
    mod idempotency;
    mod observability;
    mod openapi;
    mod original_clients;
    mod process_manager;
    mod producer_streams;
    mod readiness;
    mod redis_acl;
    mod redis_cluster;
    mod resilience;
    mod retention;
    mod scale_out;
    mod security;
    pub mod seed_scenario;
    mod supervision;
    mod views_order;
    mod views_rebuild;
    mod webdriver;
}
