//! The hosted page's HTML (maud: compile-time checked, every value escaped). One document, four
//! views: number entry, code entry, the result, and a problem (bad link, refused form). No inline
//! script or style: the strict Content-Security-Policy allows only `app.js` and `app.css` from
//! the engine. Assets and forms use relative URLs, so the page works under any path prefix.
use super::i18n::{Lang, Texts};
use crate::sessions::SessionStatus;
use maud::{html, Markup, DOCTYPE};
use otpgate_gateway::Channel;
use std::sync::LazyLock;

/// One entry of the country selector.
pub struct Country {
    pub iso: String,
    pub name: String,
    pub calling_code: u16,
}

/// Every region libphonenumber knows that is an ISO 3166-1 country, by name.
pub static COUNTRIES: LazyLock<Vec<Country>> = LazyLock::new(|| {
    let mut countries: Vec<Country> = phonenumber::metadata::DATABASE
        .iter()
        .filter_map(|meta| {
            let iso = meta.id();
            let country = isocountry::CountryCode::for_alpha2(iso).ok()?;
            Some(Country {
                iso: iso.to_owned(),
                name: country.name().to_owned(),
                calling_code: meta.country_code(),
            })
        })
        .collect();
    countries.sort_by(|a, b| a.name.cmp(&b.name));
    countries
});

/// What every view shares.
pub struct Frame<'a> {
    pub lang: Lang,
    pub app: &'a str,
    /// The form token for this session and browser.
    pub csrf: &'a str,
}

impl Frame<'_> {
    fn t(&self) -> &'static Texts {
        self.lang.texts()
    }

    /// `text` with `{app}` filled in.
    fn say(&self, text: &str) -> String {
        text.replace("{app}", self.app)
    }
}

pub struct NumberStep {
    /// ISO code of the country pre-selected.
    pub country: String,
    /// What the person typed, shown again after an error.
    pub national: String,
    /// `contact_details.phone`: shown, not editable.
    pub locked: Option<String>,
    pub error: Option<String>,
}

pub struct CodeStep {
    pub phone: String,
    pub channel: Option<Channel>,
    /// The channel the code first went out on, when it moved to another.
    pub fell_back_from: Option<Channel>,
    pub code_length: u32,
    pub resend_in_seconds: i64,
    pub resends_left: u32,
    pub error: Option<String>,
    pub notice: Option<String>,
}

pub enum View {
    Number(NumberStep),
    Code(CodeStep),
    Result {
        status: SessionStatus,
        continue_url: Option<String>,
    },
    Problem {
        title: String,
        message: String,
    },
}

/// The whole document.
pub fn render(frame: &Frame<'_>, view: &View) -> Markup {
    let t = frame.t();
    let title = match view {
        View::Number(_) => t.title,
        View::Code(_) => t.code_title,
        View::Result { status, .. } => result_texts(t, *status).0,
        View::Problem { title, .. } => title.as_str(),
    };
    html! {
        (DOCTYPE)
        html lang=(frame.lang.tag()) dir=(frame.lang.dir()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) }
                link rel="stylesheet" href="../../hosted/app.css";
                script src="../../hosted/app.js" defer {}
            }
            body {
                main #main data-wait=(t.resend_wait) data-ready=(t.resend_ready) data-fell-back=(t.fell_back)
                    data-e164-ok=(t.e164_ok) data-e164-short=(t.e164_short) data-e164-long=(t.e164_long)
                    data-e164-digits=(t.e164_digits) data-channels=(t.channels.join("|")) {
                    p.brand { (frame.app) }
                    h1 { (title) }
                    @match view {
                        View::Number(step) => (number_step(frame, step)),
                        View::Code(step) => (code_step(frame, step)),
                        View::Result { status, continue_url } => (result(frame, *status, continue_url.as_deref())),
                        View::Problem { message, .. } => p #problem role="alert" { (message) },
                    }
                    // What the script announces (countdown over, channel moved): heard, not seen;
                    // what is seen says the same on the page.
                    div #announce.sr-only aria-live="polite" {}
                }
            }
        }
    }
}

fn csrf_field(frame: &Frame<'_>) -> Markup {
    html! { input type="hidden" name="csrf" value=(frame.csrf); }
}

/// An error under a field (announced at once), or nothing.
fn error_text(id: &str, error: Option<&str>) -> Markup {
    html! { p.error id=(id) role="alert" hidden[error.is_none()] { (error.unwrap_or("")) } }
}

fn number_step(frame: &Frame<'_>, step: &NumberStep) -> Markup {
    let t = frame.t();
    html! {
        p { (t.intro) }
        form #number-form method="post" action="send" novalidate {
            (csrf_field(frame))
            @if let Some(locked) = &step.locked {
                label for="phone" { (t.phone) }
                input #phone type="tel" value=(locked) readonly aria-readonly="true" dir="ltr" aria-describedby="locked-note";
                p.hint #locked-note { (frame.say(t.locked)) }
            } @else {
                label for="country" { (t.country) }
                select #country name="country" autocomplete="country" {
                    @for c in COUNTRIES.iter() {
                        // The name first: typing a country's first letters selects it (no flag
                        // emoji in front, which would defeat the select's type-ahead).
                        option value=(c.iso) data-code=(c.calling_code) selected[c.iso == step.country] {
                            (c.name) " (+" (c.calling_code) ")"
                        }
                    }
                }
                label for="national" { (t.phone) }
                div.tel dir="ltr" {
                    span #prefix aria-hidden="true" {
                        "+" (COUNTRIES.iter().find(|c| c.iso == step.country).map_or(1, |c| c.calling_code))
                    }
                    input #national name="national" type="tel" inputmode="tel" autocomplete="tel-national"
                        required value=(step.national) aria-describedby="phone-hint phone-check phone-error"
                        aria-invalid=(if step.error.is_some() { "true" } else { "false" })
                        autofocus[step.error.is_some()];
                }
                p.hint #phone-hint { (t.phone_hint) }
                p.hint #phone-check aria-live="polite" {}
            }
            (error_text("phone-error", step.error.as_deref()))
            button type="submit" { (t.send) }
        }
    }
}

fn code_step(frame: &Frame<'_>, step: &CodeStep) -> Markup {
    let t = frame.t();
    let phone = html! { bdi dir="ltr" { (step.phone) } };
    let sent = step.channel.map(|channel| {
        let text = t.sent_by.replace("{channel}", t.channel(channel));
        let (before, after) = text.split_once("{phone}").unwrap_or((&text, ""));
        html! { (before) (phone) (after) }
    });
    html! {
        @if let Some(sent) = sent {
            p #sent data-channel=(step.channel.map_or("", |c| c.as_str())) { (sent) }
        }
        p #fallback hidden[step.fell_back_from.is_none()] {
            @if let (Some(from), Some(to)) = (step.fell_back_from, step.channel) {
                (t.fell_back.replace("{channel}", t.channel(from)).replace("{to}", t.channel(to)))
            }
        }
        form #code-form method="post" action="check" novalidate {
            (csrf_field(frame))
            label for="code" { (t.code) }
            input #code name="code" type="text" inputmode="numeric" autocomplete="one-time-code"
                pattern="[0-9]*" maxlength="10" required dir="ltr" autofocus
                aria-describedby="code-hint code-error"
                aria-invalid=(if step.error.is_some() { "true" } else { "false" });
            p.hint #code-hint { (t.code_hint.replace("{n}", &step.code_length.to_string())) }
            (error_text("code-error", step.error.as_deref()))
            button type="submit" { (t.verify) }
        }
        @if step.resends_left > 0 {
            form #resend-form method="post" action="resend" {
                (csrf_field(frame))
                button #resend type="submit" class="secondary" data-wait=(step.resend_in_seconds)
                    aria-describedby="countdown" disabled[step.resend_in_seconds > 0] { (t.resend) }
                p.hint #countdown hidden[step.resend_in_seconds <= 0] {
                    (t.resend_wait.replace("{n}", &step.resend_in_seconds.to_string()))
                }
            }
        } @else {
            p.hint { (t.no_resends) }
        }
        p { a href="./?change=1" { (t.change_number) } }
        div #live.live role="status" aria-live="polite" { (step.notice.as_deref().unwrap_or("")) }
    }
}

/// Title and message of a finished session's view.
fn result_texts(t: &'static Texts, status: SessionStatus) -> (&'static str, &'static str) {
    match status {
        SessionStatus::Approved => (t.approved_title, t.approved),
        SessionStatus::Declined => (t.declined_title, t.declined),
        SessionStatus::InReview => (t.in_review_title, t.in_review),
        SessionStatus::Expired => (t.expired_title, t.expired),
        SessionStatus::Abandoned => (t.abandoned_title, t.abandoned),
        SessionStatus::NotStarted | SessionStatus::InProgress => (t.title, t.intro),
    }
}

fn result(frame: &Frame<'_>, status: SessionStatus, continue_url: Option<&str>) -> Markup {
    let (_, message) = result_texts(frame.t(), status);
    let icon = match status {
        SessionStatus::Approved => "✓",
        SessionStatus::InReview => "…",
        _ => "!",
    };
    html! {
        p.result data-status=(status.as_str()) {
            span.icon aria-hidden="true" { (icon) } " "
            span #result-message role="status" { (frame.say(message)) }
        }
        @if let Some(url) = continue_url {
            p { a.button href=(url) rel="noreferrer" { (frame.t().continue_to) } }
        }
    }
}

/// A problem page's document with a link back to the page itself when it makes sense.
pub fn problem(frame: &Frame<'_>, title: &str, message: &str) -> Markup {
    render(
        frame,
        &View::Problem {
            title: title.to_owned(),
            message: frame.say(message),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(lang: Lang) -> Frame<'static> {
        Frame {
            lang,
            app: "Acme <Shop>",
            csrf: "tok",
        }
    }

    #[test]
    fn the_code_step_asks_for_a_one_time_code_with_a_numeric_keyboard() {
        let view = View::Code(CodeStep {
            phone: "+34 612 34 56 78".into(),
            channel: Some(Channel::Whatsapp),
            fell_back_from: Some(Channel::Sms),
            code_length: 6,
            resend_in_seconds: 12,
            resends_left: 2,
            error: None,
            notice: None,
        });
        let html = render(&frame(Lang::En), &view).into_string();
        for needle in [
            r#"autocomplete="one-time-code""#,
            r#"inputmode="numeric""#,
            r#"<label for="code">"#,
            r#"role="status" aria-live="polite""#,
            "SMS did not arrive, so we sent the same code by WhatsApp instead.",
            "We sent a code by WhatsApp to <bdi dir=\"ltr\">+34 612 34 56 78</bdi>.",
            "You can ask for a new code in 12 s.",
            r#"name="csrf" value="tok""#,
        ] {
            assert!(html.contains(needle), "{needle} missing in {html}");
        }
        assert!(html.contains("Acme &lt;Shop&gt;"), "escaped");
        assert!(!html.contains("<script>"), "no inline script");
    }

    #[test]
    fn arabic_is_right_to_left_and_numbers_stay_left_to_right() {
        let view = View::Number(NumberStep {
            country: "EG".into(),
            national: String::new(),
            locked: None,
            error: Some("x".into()),
        });
        let html = render(&frame(Lang::Ar), &view).into_string();
        assert!(html.contains(r#"<html lang="ar" dir="rtl">"#), "{html}");
        assert!(html.contains(r#"<div class="tel" dir="ltr">"#));
        assert!(html.contains(r#"<option value="EG" data-code="20" selected>"#));
        assert!(html.contains(r#"aria-invalid="true""#));
    }

    #[test]
    fn countries_have_names_and_calling_codes() {
        let spain = COUNTRIES.iter().find(|c| c.iso == "ES").unwrap();
        assert_eq!((spain.name.as_str(), spain.calling_code), ("Spain", 34));
        assert!(COUNTRIES.len() > 200);
    }
}
