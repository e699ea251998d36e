//! The sites page: the registry (paged by customer id), a form to add or update a site, and a
//! deactivate button per active site. Both forms post with the session's CSRF token.

use std::fmt::Write as _;

use serde::Deserialize;

use crate::html::{csrf_input, esc, notice, url};

/// A row of `GET /api/sites`, as D1 returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SiteRow {
    pub customer_id: String,
    pub url: String,
    /// D1 answers integers as JS numbers: 1 or 0.
    pub active: f64,
    pub plan: String,
    pub name: String,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// The answer of `GET /api/sites`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SitesPage {
    pub sites: Vec<SiteRow>,
}

/// How many sites one page shows.
pub const PAGE: u32 = 100;

fn add_form(csrf: &str) -> String {
    format!(
        "<h2>Add or update a site</h2><form class=\"add-site\" method=\"post\" action=\"/sites\">{}\
         <label>Customer id<input name=\"customer_id\" required pattern=\"[A-Za-z0-9_-]{{1,64}}\" placeholder=\"new-shop\"></label>\
         <label>URL<input name=\"url\" type=\"url\" required placeholder=\"https://shop.example\"></label>\
         <label>Plan<select name=\"plan\"><option>starter</option><option>growth</option><option>enterprise</option></select></label>\
         <label>Name<input name=\"name\" maxlength=\"200\" placeholder=\"(the customer id)\"></label>\
         <button class=\"primary\">Save site</button></form>",
        csrf_input(csrf)
    )
}

/// The page. `after` is the cursor this page started after.
pub fn list(page: &SitesPage, after: &str, csrf: &str) -> String {
    let mut out = String::new();
    if page.sites.is_empty() {
        out.push_str(&if after.is_empty() {
            notice("empty", "The registry is empty.", "Add a site below; every active site is optimized by the next sweep.")
        } else {
            notice("empty", "No more sites.", "Go back to the first page.")
        });
    } else {
        out.push_str(
            "<div class=\"scroll\"><table class=\"sites\"><thead><tr><th>Customer</th><th>Name</th><th>Plan</th>\
             <th class=\"wide\">URL</th><th>Active</th><th>Updated</th><th></th></tr></thead><tbody>",
        );
        for s in &page.sites {
            let active = s.active >= 1.0;
            let action = if active {
                format!(
                    "<form method=\"post\" action=\"/sites/{}/deactivate\">{}<button class=\"danger\">Deactivate</button></form>",
                    url(&s.customer_id),
                    csrf_input(csrf)
                )
            } else {
                String::new()
            };
            let _ = write!(
                out,
                "<tr data-site=\"{id}\"><td>{id}</td><td>{name}</td><td>{plan}</td><td>{url}</td><td>{active}</td><td>{updated}</td><td>{action}</td></tr>",
                id = esc(&s.customer_id),
                name = esc(&s.name),
                plan = esc(&s.plan),
                url = esc(&s.url),
                active = if active { "yes" } else { "no" },
                updated = esc(s.updated_at.as_deref().unwrap_or("—")),
            );
        }
        out.push_str("</tbody></table></div>");
        if page.sites.len() as u32 >= PAGE {
            let last = page.sites.last().map_or("", |s| s.customer_id.as_str());
            let _ = write!(out, "<p><a href=\"/sites?after={}\">Next page →</a></p>", url(last));
        }
    }
    out.push_str(&add_form(csrf));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_page() {
        let page: SitesPage = serde_json::from_value(serde_json::json!({"sites": [
            {"customer_id": "acme", "url": "https://a.example/?q=<b>", "active": 1, "plan": "starter", "name": "Acme", "created_at": "x", "updated_at": "2026-11-29T00:00:00Z"},
            {"customer_id": "gone", "url": "https://g.example", "active": 0.0, "plan": "growth", "name": "Gone"}
        ]}))
        .unwrap();
        let html = list(&page, "", "tok");
        for e in
            ["action=\"/sites/acme/deactivate\"", "https://a.example/?q=&lt;b&gt;", "value=\"tok\"", "<td>no</td>", "Add or update a site"]
        {
            assert!(html.contains(e), "missing {e} in {html}");
        }
        assert!(!html.contains("/sites/gone/deactivate"), "an inactive site cannot be deactivated again");
        assert!(!html.contains("Next page"));
        let empty = SitesPage { sites: vec![] };
        assert!(list(&empty, "", "tok").contains("The registry is empty."));
        assert!(list(&empty, "zed", "tok").contains("No more sites."));
    }
}
