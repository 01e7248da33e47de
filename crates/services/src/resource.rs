//! What the registry needs to know about a resource type.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A kind of API object kept in the state store.
///
/// The store keeps the object as JSON under `/registry/{KIND}/{id}`; the
/// resource version is not stored inside the value but taken from the key's
/// modification revision on every read, so it can never disagree with the
/// store.
pub trait Resource: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Plural, lower-case kind used in keys, errors and watch events.
    const KIND: &'static str;

    fn id(&self) -> &str;

    /// Records the store revision at which this copy was last modified.
    fn set_resource_version(&mut self, resource_version: String);

    /// Records when the object's lease ends, for leased kinds.
    fn set_lease_expires_at(&mut self, _at: Option<chrono::DateTime<chrono::Utc>>) {}

    /// Labels used by `label_selector` filters.
    fn labels(&self) -> Option<&BTreeMap<String, String>> {
        None
    }
}

/// Implements [`Resource`] for an API type that carries its id in `id` and
/// the common fields in a flattened `meta: ResourceMeta`. `leased` kinds
/// also take their lease's end from the store.
#[macro_export]
macro_rules! meta_resource {
    ($ty:ty, $kind:literal) => {
        impl $crate::Resource for $ty {
            const KIND: &'static str = $kind;

            fn id(&self) -> &str {
                &self.id
            }

            fn set_resource_version(&mut self, resource_version: String) {
                self.meta.resource_version = resource_version;
            }

            fn labels(&self) -> Option<&std::collections::BTreeMap<String, String>> {
                Some(&self.meta.labels)
            }
        }
    };
    ($ty:ty, $kind:literal, leased) => {
        impl $crate::Resource for $ty {
            const KIND: &'static str = $kind;

            fn id(&self) -> &str {
                &self.id
            }

            fn set_resource_version(&mut self, resource_version: String) {
                self.meta.resource_version = resource_version;
            }

            fn set_lease_expires_at(&mut self, at: Option<chrono::DateTime<chrono::Utc>>) {
                self.meta.lease_expires_at = at;
            }

            fn labels(&self) -> Option<&std::collections::BTreeMap<String, String>> {
                Some(&self.meta.labels)
            }
        }
    };
}
