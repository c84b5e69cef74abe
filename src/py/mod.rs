//! The only place, with lib.rs, that touches pyo3 types.

pub mod aio;
pub mod arrow;
pub mod convert;
pub mod exceptions;
pub mod plans;
pub mod probe;
pub mod reader;
pub mod records;
pub mod source;
pub mod tables;
pub mod wait;
