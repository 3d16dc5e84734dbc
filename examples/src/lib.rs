//! Runnable examples for the audit workspace: `quickstart` (the README's main
//! job), and later an axum SaaS-style API, a tonic service and a background job.
