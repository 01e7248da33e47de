//! The RFC's request bodies, verbatim, for the tests that send them (the
//! one copy is `corridor_model::rfc_examples`).

// Each test binary compiles the whole harness; not all of them send these.
#[allow(unused_imports)]
pub use corridor_model::rfc_examples::{
    CORRIDOR_REQUEST as CORRIDOR, FABRIC_PATH_REQUEST as PATH, FFM_ALLOC_REQUEST as ALLOC,
};
