//! Today's flag filters ([`Query`]) as a [`Filter`], so that the CLI's
//! `--tenant`, `--event`, `--since`... stay as shorthands that build the
//! same filter as `--where`.

use super::ast::{Field, Filter, ResourceRef, Test, Value};
use crate::query::Query;

impl Filter {
    /// The filter that selects what `query`'s filters select: each filter
    /// that is set becomes one condition, all joined with `and`. Order,
    /// limit and cursor are not filters and are left out.
    ///
    /// | `Query` | `Filter` |
    /// |---|---|
    /// | `since` / `until` | `time >= since` / `time < until` |
    /// | `tenant`, `actor`, `outcome`, `action` | `tenant = ...` and so on |
    /// | `events` | `event = p`, or `event in (p, q)` for several |
    /// | `resource_type` and `resource_id` | `resource = type:id` (the same resource) |
    /// | `resource_type` alone / `resource_id` alone | `resource.type = ...` / `resource.id = ...` |
    /// | `text` | the free-text term `"..."` |
    ///
    /// ```
    /// use audit_core::filter::Filter;
    /// use audit_core::query::Query;
    /// use audit_core::Outcome;
    ///
    /// let query = Query::new()
    ///     .tenant("acme")
    ///     .event("key.*".parse().unwrap())
    ///     .outcome(Outcome::Denied)
    ///     .since("7d".parse::<audit_core::query::TimeBound>().unwrap());
    /// assert_eq!(
    ///     Filter::from_query(&query).to_string(),
    ///     "time >= 7d and tenant = acme and event = key.* and outcome = denied"
    /// );
    /// ```
    pub fn from_query(query: &Query) -> Self {
        let cond = |field: Field, test: Test| Some(Filter::cond(field, test));
        let text = |s: &Option<String>| s.clone().map(Value::Text);
        let resource = match (&query.resource_type, &query.resource_id) {
            (Some(kind), Some(id)) => {
                cond(Field::Resource, Test::Eq(Value::Resource(ResourceRef::new(kind, id))))
            }
            (Some(kind), None) => cond(Field::ResourceType, Test::Eq(Value::Text(kind.clone()))),
            (None, Some(id)) => cond(Field::ResourceId, Test::Eq(Value::Text(id.clone()))),
            (None, None) => None,
        };
        let events = match query.events.as_slice() {
            [] => None,
            [one] => cond(Field::Event, Test::Eq(Value::Event(one.clone()))),
            many => cond(Field::Event, Test::In(many.iter().cloned().map(Value::Event).collect())),
        };
        let parts = [
            query.since.and_then(|b| cond(Field::Time, Test::Ge(Value::Time(b)))),
            query.until.and_then(|b| cond(Field::Time, Test::Lt(Value::Time(b)))),
            text(&query.tenant).and_then(|v| cond(Field::Tenant, Test::Eq(v))),
            text(&query.actor).and_then(|v| cond(Field::Actor, Test::Eq(v))),
            events,
            resource,
            query.outcome.and_then(|o| cond(Field::Outcome, Test::Eq(Value::Outcome(o)))),
            query.action.and_then(|a| cond(Field::Action, Test::Eq(Value::Action(a)))),
            query.text.clone().map(Filter::Text),
        ];
        Filter::and(parts.into_iter().flatten())
    }
}

impl From<&Query> for Filter {
    /// [`Filter::from_query`].
    fn from(query: &Query) -> Self {
        Self::from_query(query)
    }
}
