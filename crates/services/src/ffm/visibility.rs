//! Which bundles and policies a caller sees: one path for get, list and
//! watch of both kinds.
//!
//! A domain principal sees only its own domain's objects. Another domain's
//! object is reported exactly like a missing one (the registry's
//! `NotFound`), so ids cannot be probed across tenants; lists are filtered
//! before paging, so a page is short only at the end; watches drop other
//! domains' events before they reach the stream.

use corridor_model::ffm::FfmBundle;
use corridor_model::policy::Policy;
use corridor_store::{KeyValue, Revision};
use futures::StreamExt;

use std::sync::Arc;

use crate::labels::LabelSelector;
use crate::projection::Projection;
use crate::registry::ResourceEvents;
use crate::{Caller, ListOptions, Page, Registry, Resource, ServiceError};

/// A resource that belongs to one security domain.
pub(super) trait Owned: Resource {
    fn owner(&self) -> &str;
}

impl Owned for FfmBundle {
    fn owner(&self) -> &str {
        &self.security_domain
    }
}

impl Owned for Policy {
    fn owner(&self) -> &str {
        &self.security_domain
    }
}

fn sees<T: Owned>(caller: &Caller, object: &T) -> bool {
    caller.may_see(Some(object.owner()))
}

/// The object `id` and its store record, if `caller` may see it; else the
/// same `NotFound` as for a missing id.
pub(super) async fn get<T: Owned>(
    registry: &Registry<T>,
    caller: &Caller,
    id: &str,
) -> Result<(T, KeyValue), ServiceError> {
    let (object, kv) = registry.get_kv(id).await?;
    if sees(caller, &object) {
        Ok((object, kv))
    } else {
        Err(ServiceError::NotFound {
            kind: T::KIND,
            id: id.to_owned(),
        })
    }
}

/// One page of the objects `caller` sees, filtered before the limit.
pub(super) async fn list<T: Owned>(
    registry: &Registry<T>,
    caller: &Caller,
    options: &ListOptions,
) -> Result<Page<T>, ServiceError> {
    registry
        .list_visible(options, |object| sees(caller, object))
        .await
}

/// The rows `derive` makes of the objects `caller` sees, in key order,
/// kept in `projection` by revision (see [`crate::projection`]).
pub(super) async fn project<T: Owned, R>(
    registry: &Registry<T>,
    caller: &Caller,
    projection: &mut Projection<R>,
    derive: impl Fn(&T) -> R,
) -> Result<Vec<Arc<R>>, ServiceError> {
    registry
        .project(projection, |object| {
            sees(caller, object).then(|| derive(object))
        })
        .await
}

/// Changes after `from_revision` (0 = from now) to the objects `caller`
/// sees. Errors pass through: they end the stream for everyone alike.
pub(super) async fn watch<T: Owned>(
    registry: &Registry<T>,
    caller: &Caller,
    from_revision: Revision,
    selector: LabelSelector,
) -> Result<ResourceEvents<T>, ServiceError> {
    let events = registry.watch(from_revision, selector).await?;
    let caller = caller.clone();
    Ok(Box::pin(events.filter(move |event| {
        std::future::ready(match event {
            Ok(event) => sees(&caller, &event.object),
            Err(_) => true,
        })
    })))
}
