//! Names holding HTML or script are valid names: they must be stored as typed and shown as text,
//! never interpreted, in the list and in the details panel.

use crate::driver::App;

const PAYLOADS: [&str; 20] = [
    "<script>window.pwned=1</script>",
    "<img src=x onerror=\"window.pwned=2\">",
    "<svg onload=\"window.pwned=3\">",
    "\"><img src=x onerror=window.pwned=4>",
    "<iframe src=\"javascript:window.pwned=5\">",
    "<body onload=\"window.pwned=6\">",
    "<a href=\"javascript:window.pwned=7\">click</a>",
    "<b>bold</b> <i>italic</i>",
    "<style>body{display:none}</style>",
    "<div style=\"position:fixed;inset:0\">x</div>",
    "</td></tr></table><h1>broken</h1>",
    "<!-- comment --> visible",
    "&lt;escaped&gt; &amp; &#60;b&#62;",
    "{{constructor.constructor('x')()}}",
    "${window.pwned=8}",
    "' OR 1=1 --",
    "<math><mtext><table><mglyph>",
    "<details open ontoggle=window.pwned=9>",
    "%3Cscript%3Ewindow.pwned=10%3C/script%3E",
    "<input autofocus onfocus=window.pwned=11>",
];

#[tokio::test]
async fn html_and_script_in_names_render_literally() {
    let app = App::launch(&[]).await;
    let mut ids = Vec::new();
    for payload in PAYLOADS {
        assert!(
            payload.chars().count() <= 50,
            "{payload} is too long for a name"
        );
        let out = app.cli(&["keys", "create", "--name", payload, "--override-limit"]);
        assert!(out.status.success(), "{payload}: {out:?}");
        let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        ids.push(token.split('_').nth(1).expect("id").to_owned());
    }
    app.client.refresh().await.expect("reload");

    app.find("tr[data-key-id]").await;
    app.screenshot("18-html-payload-names").await;

    // The list is virtual (only the rows near the screen are in the DOM), so read the names a
    // screenful at a time, down to the last row.
    let mut shown = std::collections::HashMap::new();
    loop {
        let screen = app
            .js(
                "const rows = [...document.querySelectorAll('tbody tr[data-key-id]')];
                 return {
                   names: rows.map((r) =>
                     [r.dataset.keyId, r.querySelector('button.key-name-link').textContent]),
                   last: Math.max(...rows.map((r) => Number(r.dataset.row))),
                   total: Number(document.querySelector('table').getAttribute('aria-rowcount')) - 1,
                 };",
            )
            .await;
        for pair in screen["names"].as_array().expect("names") {
            let id = pair[0].as_str().expect("id").to_owned();
            shown.insert(id, pair[1].as_str().expect("name").to_owned());
        }
        let last = screen["last"].as_i64().expect("last row");
        if last + 1 >= screen["total"].as_i64().expect("total") {
            break;
        }
        app.js("const w = document.querySelector('.table-wrap');
             w.scrollTop += w.clientHeight - 60;")
            .await;
        app.find(&format!("tr[data-key-id][data-row=\"{}\"]", last + 1))
            .await;
    }
    for (payload, id) in PAYLOADS.iter().zip(&ids) {
        let name = shown
            .get(id)
            .unwrap_or_else(|| panic!("{payload} was never listed"));
        assert_eq!(
            name.trim(),
            *payload,
            "the name must be shown exactly as typed"
        );
    }

    // Open one in the details panel too.
    app.click(&format!(
        "tr[data-key-id=\"{}\"] button.key-name-link",
        ids[1]
    ))
    .await;
    app.text_until("#key-details", |t| t.contains("onerror"))
        .await;
    app.screenshot("19-html-payload-details").await;

    let injected = app
        .js("const list = document.querySelector('table');
             return {
               pwned: window.pwned === undefined ? null : String(window.pwned),
               elements: list.querySelectorAll('script, img, svg, iframe, style, h1, b, i, math, \
                 details, input:not([type=checkbox]), a[href^=javascript]').length,
               bodyVisible: getComputedStyle(document.body).display !== 'none',
             };")
        .await;
    assert_eq!(
        injected["pwned"],
        serde_json::Value::Null,
        "a payload ran: {injected}"
    );
    assert_eq!(
        injected["elements"], 0,
        "a payload became markup: {injected}"
    );
    assert_eq!(injected["bodyVisible"], true);
    app.close().await;
}
