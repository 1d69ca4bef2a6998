//! See the issue that builds this module.
