//! Calculate group and bootstrapping functions (moving windows, summarize, timeShift, ...).

use crate::functions::Impl;

pub(super) const DEFS: &[(&str, Impl)] = &[];
