//! The hosted page's words in English, Spanish and Arabic (right to left), chosen from the
//! session's `language` or the browser's `Accept-Language` (RFC 9110 §12.5.4, q-values honoured).
//! Placeholders: `{n}` a number, `{channel}` a channel's name, `{phone}` a number, `{app}` the
//! application's name.
use otpgate_gateway::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Es,
    Ar,
}

impl Lang {
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Ar => "ar",
        }
    }

    pub fn dir(self) -> &'static str {
        if self == Lang::Ar {
            "rtl"
        } else {
            "ltr"
        }
    }

    fn from_tag(tag: &str) -> Option<Lang> {
        match tag.split(['-', '_']).next()?.to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "es" => Some(Lang::Es),
            "ar" => Some(Lang::Ar),
            _ => None,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Es => &ES,
            Lang::Ar => &AR,
        }
    }
}

/// The page's language: the session's `language` if we have it, else the best of
/// `Accept-Language` we have, else English. Also the region of the first tag that names one
/// (`es-MX` → `MX`), to pre-select the country.
pub fn negotiate(session_language: Option<&str>, accept_language: Option<&str>) -> (Lang, Option<String>) {
    let mut ranked: Vec<(f32, usize, &str)> = accept_language
        .unwrap_or("")
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (!tag.is_empty() && q > 0.0).then_some((q, i, tag))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let region = ranked.iter().find_map(|(_, _, tag)| {
        let region = tag.split(['-', '_']).nth(1)?;
        (region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic())).then(|| region.to_ascii_uppercase())
    });
    let lang = session_language
        .and_then(Lang::from_tag)
        .or_else(|| ranked.iter().find_map(|(_, _, tag)| Lang::from_tag(tag)))
        .unwrap_or(Lang::En);
    (lang, region)
}

pub struct Texts {
    pub title: &'static str,
    pub intro: &'static str,
    pub country: &'static str,
    pub phone: &'static str,
    pub phone_hint: &'static str,
    pub locked: &'static str,
    pub send: &'static str,
    pub code_title: &'static str,
    pub sent_by: &'static str,
    pub fell_back: &'static str,
    pub code: &'static str,
    pub code_hint: &'static str,
    pub verify: &'static str,
    pub resend: &'static str,
    pub resend_wait: &'static str,
    pub resend_ready: &'static str,
    pub no_resends: &'static str,
    pub resent: &'static str,
    pub change_number: &'static str,
    pub continue_to: &'static str,
    pub e164_ok: &'static str,
    pub e164_short: &'static str,
    pub e164_long: &'static str,
    pub e164_digits: &'static str,
    // Errors a person understands.
    pub invalid_number: &'static str,
    pub wrong_code: &'static str,
    pub malformed_code: &'static str,
    pub code_expired: &'static str,
    pub cant_send: &'static str,
    pub unavailable: &'static str,
    pub too_many: &'static str,
    pub wait_resend: &'static str,
    pub csrf: &'static str,
    pub no_cookie: &'static str,
    pub invalid_link_title: &'static str,
    pub invalid_link: &'static str,
    pub finished: &'static str,
    pub busy: &'static str,
    // Results.
    pub approved_title: &'static str,
    pub approved: &'static str,
    pub declined_title: &'static str,
    pub declined: &'static str,
    pub in_review_title: &'static str,
    pub in_review: &'static str,
    pub expired_title: &'static str,
    pub expired: &'static str,
    pub abandoned_title: &'static str,
    pub abandoned: &'static str,
    pub channels: [&'static str; 6],
}

impl Texts {
    /// A channel's name as a person says it.
    pub fn channel(&self, channel: Channel) -> &'static str {
        let i = Channel::ALL.iter().position(|c| *c == channel).unwrap_or(0);
        self.channels[i]
    }
}

static EN: Texts = Texts {
    title: "Verify your phone number",
    intro: "We will send a code to your phone to check that it is yours.",
    country: "Country",
    phone: "Phone number",
    phone_hint: "Your number without the country code, for example 612 345 678.",
    locked: "{app} gave us this number. If it is not yours, contact {app}.",
    send: "Send code",
    code_title: "Enter the code",
    sent_by: "We sent a code by {channel} to {phone}.",
    fell_back: "{channel} did not arrive, so we sent the same code by {to} instead.",
    code: "Verification code",
    code_hint: "The code has {n} digits.",
    verify: "Verify",
    resend: "Send a new code",
    resend_wait: "You can ask for a new code in {n} s.",
    resend_ready: "You can ask for a new code now.",
    no_resends: "You cannot ask for more codes for this number today.",
    resent: "We sent the code again.",
    change_number: "Use a different number",
    continue_to: "Continue",
    e164_ok: "We will send the code to {phone}.",
    e164_short: "This number is too short.",
    e164_long: "This number is too long.",
    e164_digits: "Use digits only.",
    invalid_number: "This is not a valid phone number for the country you chose. Check the number and the country, then try again.",
    wrong_code: "That code is not right. You can try {n} more time(s).",
    malformed_code: "Enter the code from the message: digits only.",
    code_expired: "That code has expired. Ask for a new code.",
    cant_send: "We could not send a code to this number. Check it, or use a different number.",
    unavailable: "We cannot send messages right now. Please try again in a few minutes.",
    too_many: "Too many attempts. Please wait {n} seconds, then try again.",
    wait_resend: "Please wait {n} seconds before asking for a new code.",
    csrf: "This form has expired or was sent from another page. Reload this page and try again.",
    no_cookie: "Your browser did not send back this page's security cookie. Allow cookies for this site, reload the page and try again.",
    invalid_link_title: "This link does not work",
    invalid_link: "The link is wrong or no longer exists. Ask for a new link.",
    finished: "This verification is already finished. Nothing was changed.",
    busy: "Something went wrong on our side. Please try again.",
    approved_title: "Your phone number is verified",
    approved: "Thank you. You can close this page.",
    declined_title: "We could not verify your phone number",
    declined: "This verification was declined. Contact {app} if you need help.",
    in_review_title: "Thank you, we are checking your verification",
    in_review: "A person will review it. {app} will tell you the result.",
    expired_title: "This link has expired",
    expired: "Ask {app} for a new verification link.",
    abandoned_title: "This verification was not finished in time",
    abandoned: "Ask {app} for a new verification link.",
    channels: ["SMS", "WhatsApp", "Telegram", "RCS message", "Viber", "phone call"],
};

static ES: Texts = Texts {
    title: "Verifica tu número de teléfono",
    intro: "Te enviaremos un código al teléfono para comprobar que es tuyo.",
    country: "País",
    phone: "Número de teléfono",
    phone_hint: "Tu número sin el prefijo del país, por ejemplo 612 345 678.",
    locked: "{app} nos dio este número. Si no es tuyo, contacta con {app}.",
    send: "Enviar código",
    code_title: "Introduce el código",
    sent_by: "Te enviamos un código por {channel} al {phone}.",
    fell_back: "{channel} no llegó, así que te enviamos el mismo código por {to}.",
    code: "Código de verificación",
    code_hint: "El código tiene {n} dígitos.",
    verify: "Verificar",
    resend: "Enviar un código nuevo",
    resend_wait: "Podrás pedir un código nuevo dentro de {n} s.",
    resend_ready: "Ya puedes pedir un código nuevo.",
    no_resends: "Hoy no puedes pedir más códigos para este número.",
    resent: "Te enviamos el código de nuevo.",
    change_number: "Usar otro número",
    continue_to: "Continuar",
    e164_ok: "Enviaremos el código al {phone}.",
    e164_short: "Este número es demasiado corto.",
    e164_long: "Este número es demasiado largo.",
    e164_digits: "Usa solo dígitos.",
    invalid_number: "No es un número de teléfono válido para el país elegido. Revisa el número y el país, y vuelve a intentarlo.",
    wrong_code: "Ese código no es correcto. Puedes intentarlo {n} vez/veces más.",
    malformed_code: "Introduce el código del mensaje: solo dígitos.",
    code_expired: "Ese código ha caducado. Pide un código nuevo.",
    cant_send: "No pudimos enviar un código a este número. Revísalo o usa otro número.",
    unavailable: "Ahora mismo no podemos enviar mensajes. Vuelve a intentarlo en unos minutos.",
    too_many: "Demasiados intentos. Espera {n} segundos y vuelve a intentarlo.",
    wait_resend: "Espera {n} segundos antes de pedir un código nuevo.",
    csrf: "Este formulario ha caducado o se envió desde otra página. Vuelve a cargar esta página e inténtalo de nuevo.",
    no_cookie: "Tu navegador no devolvió la cookie de seguridad de esta página. Permite las cookies de este sitio, vuelve a cargar la página e inténtalo de nuevo.",
    invalid_link_title: "Este enlace no funciona",
    invalid_link: "El enlace es incorrecto o ya no existe. Pide un enlace nuevo.",
    finished: "Esta verificación ya ha terminado. No se ha cambiado nada.",
    busy: "Algo ha fallado por nuestra parte. Vuelve a intentarlo.",
    approved_title: "Tu número de teléfono está verificado",
    approved: "Gracias. Ya puedes cerrar esta página.",
    declined_title: "No pudimos verificar tu número de teléfono",
    declined: "Esta verificación fue rechazada. Contacta con {app} si necesitas ayuda.",
    in_review_title: "Gracias, estamos revisando tu verificación",
    in_review: "Una persona la revisará. {app} te dirá el resultado.",
    expired_title: "Este enlace ha caducado",
    expired: "Pide a {app} un enlace de verificación nuevo.",
    abandoned_title: "Esta verificación no se terminó a tiempo",
    abandoned: "Pide a {app} un enlace de verificación nuevo.",
    channels: ["SMS", "WhatsApp", "Telegram", "mensaje RCS", "Viber", "llamada"],
};

static AR: Texts = Texts {
    title: "تحقق من رقم هاتفك",
    intro: "سنرسل رمزًا إلى هاتفك للتأكد من أنه لك.",
    country: "البلد",
    phone: "رقم الهاتف",
    phone_hint: "رقمك بدون رمز البلد، مثل 612 345 678.",
    locked: "زوّدنا {app} بهذا الرقم. إذا لم يكن رقمك فتواصل مع {app}.",
    send: "إرسال الرمز",
    code_title: "أدخل الرمز",
    sent_by: "أرسلنا رمزًا عبر {channel} إلى {phone}.",
    fell_back: "لم تصل رسالة {channel}، لذلك أرسلنا الرمز نفسه عبر {to}.",
    code: "رمز التحقق",
    code_hint: "يتكون الرمز من {n} أرقام.",
    verify: "تحقق",
    resend: "إرسال رمز جديد",
    resend_wait: "يمكنك طلب رمز جديد بعد {n} ثانية.",
    resend_ready: "يمكنك الآن طلب رمز جديد.",
    no_resends: "لا يمكنك طلب رموز أخرى لهذا الرقم اليوم.",
    resent: "أرسلنا الرمز مرة أخرى.",
    change_number: "استخدام رقم آخر",
    continue_to: "متابعة",
    e164_ok: "سنرسل الرمز إلى {phone}.",
    e164_short: "هذا الرقم قصير جدًا.",
    e164_long: "هذا الرقم طويل جدًا.",
    e164_digits: "استخدم الأرقام فقط.",
    invalid_number: "هذا ليس رقم هاتف صالحًا للبلد الذي اخترته. تحقق من الرقم والبلد ثم حاول مرة أخرى.",
    wrong_code: "هذا الرمز غير صحيح. يمكنك المحاولة {n} مرة أخرى.",
    malformed_code: "أدخل الرمز الموجود في الرسالة: أرقام فقط.",
    code_expired: "انتهت صلاحية هذا الرمز. اطلب رمزًا جديدًا.",
    cant_send: "لم نتمكن من إرسال رمز إلى هذا الرقم. تحقق منه أو استخدم رقمًا آخر.",
    unavailable: "لا يمكننا إرسال الرسائل الآن. يرجى المحاولة بعد بضع دقائق.",
    too_many: "محاولات كثيرة جدًا. انتظر {n} ثانية ثم حاول مرة أخرى.",
    wait_resend: "انتظر {n} ثانية قبل طلب رمز جديد.",
    csrf: "انتهت صلاحية هذا النموذج أو أُرسل من صفحة أخرى. أعد تحميل هذه الصفحة وحاول مرة أخرى.",
    no_cookie: "لم يُعِد متصفحك ملف تعريف الارتباط الأمني لهذه الصفحة. اسمح بملفات تعريف الارتباط لهذا الموقع وأعد تحميل الصفحة ثم حاول مرة أخرى.",
    invalid_link_title: "هذا الرابط لا يعمل",
    invalid_link: "الرابط غير صحيح أو لم يعد موجودًا. اطلب رابطًا جديدًا.",
    finished: "انتهى هذا التحقق بالفعل. لم يتغير شيء.",
    busy: "حدث خطأ من جهتنا. يرجى المحاولة مرة أخرى.",
    approved_title: "تم التحقق من رقم هاتفك",
    approved: "شكرًا لك. يمكنك إغلاق هذه الصفحة.",
    declined_title: "لم نتمكن من التحقق من رقم هاتفك",
    declined: "رُفض هذا التحقق. تواصل مع {app} إذا احتجت إلى مساعدة.",
    in_review_title: "شكرًا لك، نحن نراجع عملية التحقق",
    in_review: "سيراجعها أحد الأشخاص، وسيخبرك {app} بالنتيجة.",
    expired_title: "انتهت صلاحية هذا الرابط",
    expired: "اطلب من {app} رابط تحقق جديدًا.",
    abandoned_title: "لم يكتمل هذا التحقق في الوقت المحدد",
    abandoned: "اطلب من {app} رابط تحقق جديدًا.",
    channels: ["رسالة SMS", "واتساب", "تيليجرام", "رسالة RCS", "فايبر", "مكالمة هاتفية"],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_language_we_have() {
        assert_eq!(
            negotiate(None, Some("ar-EG,ar;q=0.9,en;q=0.8")),
            (Lang::Ar, Some("EG".into()))
        );
        assert_eq!(negotiate(None, Some("fr-FR,es;q=0.8,en;q=0.5")).0, Lang::Es);
        assert_eq!(
            negotiate(None, Some("en;q=0.1, es-MX;q=0.9")),
            (Lang::Es, Some("MX".into()))
        );
        assert_eq!(negotiate(None, Some("de-DE")), (Lang::En, Some("DE".into())));
        assert_eq!(negotiate(None, None), (Lang::En, None));
        assert_eq!(
            negotiate(None, Some("es;q=0, en")).0,
            Lang::En,
            "q=0 means not acceptable"
        );
        assert_eq!(
            negotiate(Some("es"), Some("ar")).0,
            Lang::Es,
            "the session's language first"
        );
        assert_eq!(negotiate(Some("zz"), Some("ar")).0, Lang::Ar);
    }

    #[test]
    fn every_channel_has_a_name_in_every_language() {
        for lang in [Lang::En, Lang::Es, Lang::Ar] {
            for channel in Channel::ALL {
                assert!(!lang.texts().channel(channel).is_empty());
            }
        }
        assert_eq!(Lang::Ar.dir(), "rtl");
        assert_eq!(Lang::Es.dir(), "ltr");
    }
}
