//! Query strings of the admin API's listings: `page`, `limit` and each
//! listing's filters, read strictly. An unknown parameter, a repeated
//! one, a broken escape or a number out of range is a 400 that names it,
//! so that a misspelt filter (`clientId`) is not silently ignored.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::path::percent_decode;

/// The page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest page.
pub const MAX_LIMIT: usize = 1000;

/// The parameters of one query string, decoded.
#[derive(Debug, Default)]
pub struct Query {
    params: BTreeMap<String, String>,
}

/// Which page of a listing, and how long pages are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// 1-based.
    pub page: usize,
    pub limit: usize,
}

impl Query {
    /// Decodes `query` (`a=1&b=x%2Fy`, `+` a space as in forms) and
    /// refuses parameters not in `allowed`.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Query, String> {
        let mut params = BTreeMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| {
                percent_decode(&text.replace('+', " ")).ok_or_else(|| {
                    format!("query parameter {name:?}: not valid percent-encoded UTF-8")
                })
            };
            let (name, value) = (decode(name)?, decode(value)?);
            if !allowed.contains(&name.as_str()) {
                return Err(format!(
                    "unknown query parameter {name:?}; this listing takes {}",
                    allowed.join(", ")
                ));
            }
            if params.insert(name.clone(), value).is_some() {
                return Err(format!("query parameter {name:?} given twice"));
            }
        }
        Ok(Query { params })
    }

    /// A parameter's value; an empty one counts as absent (a form's empty
    /// field).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `page` (from 1) and `limit` (1 to [`MAX_LIMIT`]).
    pub fn paging(&self) -> Result<Paging, String> {
        let number = |name: &str, default: usize, max: usize| match self.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    format!("{name} must be a whole number from 1 to {max}, got {text:?}")
                }),
        };
        Ok(Paging {
            page: number("page", 1, usize::MAX)?,
            limit: number("limit", DEFAULT_LIMIT, MAX_LIMIT)?,
        })
    }
}

impl Paging {
    /// This page of `items` (empty past the end), and the listing's
    /// `meta`: page, limit, the count of all items, and whether a next
    /// page has any.
    pub fn cut<T>(self, items: Vec<T>) -> (Vec<T>, Value) {
        let count = items.len();
        let start = (self.page - 1).saturating_mul(self.limit);
        let page: Vec<T> = items.into_iter().skip(start).take(self.limit).collect();
        let meta = json!({
            "page": self.page,
            "limit": self.limit,
            "count": count,
            "hasnext": start.saturating_add(self.limit) < count,
        });
        (page, meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_decoded_as_forms_send_them() {
        let query = Query::parse(
            Some("clientid=a%2Fb+c&username=%C3%A9&page=2"),
            &["clientid", "username", "page"],
        )
        .unwrap();
        assert_eq!(query.get("clientid"), Some("a/b c"));
        assert_eq!(query.get("username"), Some("é"));
        assert_eq!(
            query.paging().unwrap(),
            Paging {
                page: 2,
                limit: DEFAULT_LIMIT
            }
        );
        let empty = Query::parse(Some("clientid=&"), &["clientid"]).unwrap();
        assert_eq!(empty.get("clientid"), None);
        assert_eq!(Query::parse(None, &[]).unwrap().paging().unwrap().page, 1);
    }

    #[test]
    fn unknown_repeated_and_broken_parameters_are_refused() {
        for bad in [
            "clientId=x",
            "page=1&page=2",
            "clientid=%zz",
            "clientid=%FF",
            "x",
        ] {
            assert!(
                Query::parse(Some(bad), &["clientid", "page"]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn paging_is_bounded() {
        let paging = |q: &str| Query::parse(Some(q), &["page", "limit"]).unwrap().paging();
        for bad in [
            "page=0",
            "limit=0",
            "limit=1001",
            "page=-1",
            "page=x",
            "limit=1e3",
            "page=99999999999999999999999",
        ] {
            assert!(paging(bad).is_err(), "{bad}");
        }
        assert_eq!(paging("limit=1000").unwrap().limit, MAX_LIMIT);
        // A page far past the end is empty, not an overflow.
        let far = Paging {
            page: usize::MAX,
            limit: MAX_LIMIT,
        };
        let (items, meta) = far.cut(vec![1, 2, 3]);
        assert!(items.is_empty());
        assert_eq!(meta["count"], 3);
        assert_eq!(meta["hasnext"], false);
    }

    #[test]
    fn a_page_is_cut_from_the_whole_listing() {
        let paging = Paging { page: 2, limit: 2 };
        let (items, meta) = paging.cut(vec![1, 2, 3, 4, 5]);
        assert_eq!(items, vec![3, 4]);
        assert_eq!(
            meta,
            json!({"page": 2, "limit": 2, "count": 5, "hasnext": true})
        );
        let (items, meta) = Paging { page: 3, limit: 2 }.cut(vec![1, 2, 3, 4, 5]);
        assert_eq!(items, vec![5]);
        assert_eq!(meta["hasnext"], false);
    }
}
