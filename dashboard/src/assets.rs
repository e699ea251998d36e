//! The dashboard's stylesheet and script, embedded in the Worker (no frontend build). They
//! hold no data, so they are served without a session, as files: the Content-Security-Policy
//! allows scripts and styles from the dashboard's own origin only, never inline.

/// Served at [`CSS_PATH`].
pub const CSS_PATH: &str = "/static/dash.css";
/// Served at [`JS_PATH`].
pub const JS_PATH: &str = "/static/dash.js";

/// The Content-Security-Policy of every dashboard page.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Laptop and phone alike: a single column, tables scroll sideways inside their box on narrow
/// screens, forms wrap.
pub const CSS: &str = r#":root{--ok:#2e7d32;--dead:#c62828;--sup:#8d6e63;--retry:#ef6c00;--run:#1565c0;--line:#ddd;--muted:#666}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1a1a1a;background:#fafafa}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.6rem 1rem;background:#1f2937;color:#fff}
header a{color:#fff;text-decoration:none}.brand{font-weight:700}.brand small{font-weight:400;opacity:.7}
nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;flex:1}nav a[aria-current]{text-decoration:underline;text-underline-offset:4px}
.who{font-size:.85em;opacity:.85;margin-left:auto;margin-right:.6em}.logout{margin:0}.logout button{background:none;border:1px solid #fff6;color:#fff}
main{max-width:1200px;margin:0 auto;padding:1rem}h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin-top:1.5rem}
.scroll{overflow-x:auto;background:#fff;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%;min-width:640px}th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f3f4f6;font-weight:600;white-space:nowrap}table.audit code{font-size:.8rem;overflow-wrap:anywhere}th.wide{width:35%}td small,.muted,.hint{color:var(--muted)}
.bar{width:100%;height:14px;background:#e5e7eb;border-radius:3px;display:block}
.bar .ok{fill:var(--ok)}.bar .dead{fill:var(--dead)}.bar .sup{fill:var(--sup)}.bar .retry{fill:var(--retry)}.bar .run{fill:var(--run)}
.legend{margin:.2rem 0 0;font-size:.8rem}.legend span{margin-right:.5rem;white-space:nowrap}
.legend .ok{color:var(--ok)}.legend .dead{color:var(--dead)}.legend .sup{color:var(--sup)}.legend .retry{color:var(--retry)}.legend .run{color:var(--run)}
.status{display:inline-block;padding:0 .45rem;border-radius:10px;font-size:.8rem;background:#e5e7eb}
.status.succeeded,.status.replayed{background:#e8f5e9;color:var(--ok)}.status.failed,.status.dead{background:#ffebee;color:var(--dead)}
.status.running{background:#e3f2fd;color:var(--run)}.status.abandoned,.status.purged{background:#efebe9;color:var(--sup)}
.badge{background:#fff3e0;color:var(--retry);border-radius:10px;padding:0 .45rem;font-size:.8rem}
.notice{border:1px solid var(--line);border-left:4px solid var(--run);background:#fff;padding:.4rem 1rem;margin:1rem 0;border-radius:4px}
.notice.error{border-left-color:var(--dead)}.notice.ok{border-left-color:var(--ok)}.notice.warning{border-left-color:#b7791f}.notice p{margin:.3rem 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;background:#fff;border:1px solid var(--line);padding:.8rem;border-radius:6px}
dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:anywhere}
pre{background:#111827;color:#e5e7eb;padding:.8rem;border-radius:6px;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}
form.filters,form.add-site,form.login{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-end;background:#fff;border:1px solid var(--line);padding:.8rem;border-radius:6px}
label{display:flex;flex-direction:column;font-size:.85rem;gap:.2rem}input,select,button,.button{font:inherit;padding:.4rem .6rem;border:1px solid #bbb;border-radius:4px;background:#fff}
button,.button{cursor:pointer;text-decoration:none;color:inherit;display:inline-block}.primary{background:var(--run);color:#fff;border-color:var(--run)}
.danger{border-color:var(--dead);color:var(--dead)}.nowrap,td code{white-space:nowrap}td form{margin:0}.error{overflow-wrap:anywhere}
[data-refresh].updating{opacity:.75}[data-stale]::before{content:"Not updating: the last refresh failed; retrying.";display:block;color:var(--dead)}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:.6rem}.kpi{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.5rem .7rem;display:flex;flex-direction:column}
.kpi .name,.kpi .change,figcaption{font-size:.8rem;color:var(--muted)}.kpi .value{font-size:1.3rem}.sentence{margin:.4rem 0}
figure{margin:.6rem 0;background:#fff;border:1px solid var(--line);border-radius:6px;padding:.4rem}svg.chart{width:100%;height:auto;display:block}
.chart .grid{stroke:#e5e7eb}.chart .axis{font-size:11px;fill:#555}.chart .value{font-size:11px;fill:#333}.chart .total{fill:#1f2937}.chart .up{fill:var(--ok)}.chart .down{fill:var(--dead)}
.chart .actual{fill:none;stroke:var(--run);stroke-width:2}.chart .dot{fill:var(--run)}.chart .forecast{fill:none;stroke:var(--run);stroke-width:2;stroke-dasharray:6 4}.chart .band{fill:#1565c026}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.6rem}.triple{display:grid;grid-template-columns:repeat(3,1fr);gap:.6rem}nav.months{display:flex;flex-wrap:wrap;gap:.4rem 1rem;margin-bottom:.6rem}
@media print{header,nav.months,.no-print,form{display:none}body{background:#fff;color:#000;font-size:10.5pt}main{max-width:none;padding:0}
figure,.kpi,tr,.notice{break-inside:avoid}h2{break-after:avoid}.scroll{overflow:visible;border:0}table{min-width:0}a{color:inherit;text-decoration:none}
a.json::after{content:" (" attr(href) ")";color:#555}.chart .band{fill:#ccc}@page{margin:14mm}}
@media (max-width:600px){main{padding:.6rem}table{min-width:520px}label{flex:1 1 100%}nav{order:3;flex-basis:100%}
table.sweeps,table.schedules,table.dead-letters{min-width:0}table.sweeps thead,table.schedules thead,table.dead-letters thead{display:none}
table.sweeps tr,table.schedules tr,table.dead-letters tr{display:block;border-bottom:1px solid var(--line);padding:.4rem 0}
table.sweeps td,table.schedules td,table.dead-letters td{display:block;border:0;padding:.1rem .6rem}.pair,.triple{grid-template-columns:1fr}}
"#;

/// Live refresh: while the page has a section with `data-refresh`, re-fetch the page every
/// that many milliseconds and swap the section in; stop when the fresh page has no running
/// sweep (no `data-refresh`). A failed fetch or an error answer marks the section stale in
/// place and keeps trying.
pub const JS: &str = r#"(function(){
function tick(){var live=document.querySelector('[data-refresh]');if(!live)return;
setTimeout(function(){live.classList.add('updating');
fetch(location.href,{credentials:'same-origin',headers:{'accept':'text/html'}}).then(function(r){
if(r.status===401){location.reload();return null;}if(!r.ok){throw new Error('HTTP '+r.status);}return r.text();}).then(function(t){if(t===null)return;
var next=new DOMParser().parseFromString(t,'text/html').getElementById('live');
if(next){live.replaceWith(next);}tick();}).catch(function(){live.classList.remove('updating');
live.setAttribute('data-stale','1');tick();});},+live.getAttribute('data-refresh')||2000);}
document.addEventListener('DOMContentLoaded',tick);})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_forbids_inline_code_and_framing() {
        for part in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"] {
            assert!(CSP.contains(part), "{part}");
        }
        assert!(!CSP.contains("unsafe-inline"));
        assert!(JS.contains("data-refresh") && CSS.contains("@media"));
        // Reports print cleanly: the navigation and forms are left out of a printed page.
        let print = CSS.split("@media print{").nth(1).expect("a print stylesheet");
        assert!(print.starts_with("header,nav.months,.no-print,form{display:none}"), "{print}");
    }
}
