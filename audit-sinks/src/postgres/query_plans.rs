#![doc = include_str!("query_plans.md")]
