//! carbon-c-relay configuration language.
