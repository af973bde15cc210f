//! Message texts per locale. The code is the only variable part a recipient must read, so the
//! texts are short and put it last.

/// Renders the OTP text for `locale` (`es`, `pt-BR`, `ar_EG`...); unknown locales get English.
pub fn render(locale: &str, brand: &str, code: &str) -> String {
    let language = locale.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    match language.as_str() {
        "es" => format!("Tu código de verificación de {brand} es {code}"),
        "pt" => format!("Seu código de verificação {brand} é {code}"),
        "ar" => format!("رمز التحقق الخاص بك في {brand} هو {code}"),
        "fr" => format!("Votre code de vérification {brand} est {code}"),
        "de" => format!("Ihr {brand}-Bestätigungscode lautet {code}"),
        _ => format!("Your {brand} verification code is {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn picks_the_language_and_falls_back_to_english() {
        assert_eq!(render("en", "Acme", "123456"), "Your Acme verification code is 123456");
        assert!(render("pt-BR", "Acme", "1234").starts_with("Seu código"));
        assert!(render("es_MX", "Acme", "1234").starts_with("Tu código"));
        assert!(render("ar", "Acme", "1234").ends_with("1234"));
        assert!(render("xx", "Acme", "1234").starts_with("Your"));
    }

    /// The brand is the application's name, which may hold any character: one outside the
    /// Basic Multilingual Plane (🍕, U+1F355) comes out whole in every language, code last.
    #[test]
    fn a_brand_outside_the_bmp_is_kept_whole_in_every_language() {
        for locale in ["en", "es", "pt", "ar", "fr", "de"] {
            let text = render(locale, "Pizza 🍕", "482915");
            assert!(text.contains("Pizza 🍕"), "{locale}: {text}");
            assert!(text.ends_with("482915"), "{locale}: {text}");
        }
    }
}
