//! The tickets for sale, a page at a time, from this node's catalog: no
//! fan-out, no home node.

use super::Ops;
use crate::catalog::{Page, Query};

impl Ops {
    /// A page of tickets that can be bought now, oldest first.
    pub(crate) fn tickets_for_sale(&self, query: &Query) -> Page {
        self.catalog.page(query)
    }
}
