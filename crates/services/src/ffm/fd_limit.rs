//! Every live bundle holds an fd: the soft `RLIMIT_NOFILE` is lifted to the
//! hard limit so the number of bundles is bounded by admission, not by a
//! default of 1024.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

pub(super) fn raise() {
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise RLIMIT_NOFILE; bundles are limited by it");
        }
    }
}
