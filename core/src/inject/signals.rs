//! The injection rules: for each, the signal it raises, its weight, gate keywords and pattern.
//!
//! Patterns are written against the normalised, lowercased view (see [`super::normalize`]) in a
//! compact form: a literal space stands for "a word separator" and is expanded by [`expand`]
//! (any run of non-word characters in ordinary views; an optional one in the view where
//! spaced-out letters were joined, since those lost their word gaps). `\b` is dropped in the
//! joined view for the same reason. Patterns never contain a space for any other purpose.
//!
//! Weights are chosen so that one unambiguous phrase ("ignore all previous instructions")
//! crosses the default threshold on its own, while phrases that also occur in ordinary mail and
//! documentation (a lone chat-template token, "send the report to bob@…", "developer mode")
//! stay under it unless another signal joins them. Distinct rules combine as
//! `1 - Π(1 - w)`; repeated hits of one rule count once.

/// Signal names, stable for policies and audit records.
pub const INSTRUCTION_OVERRIDE: &str = "instruction-override";
pub const ROLE_SWITCH: &str = "role-switch";
pub const CHAT_TEMPLATE: &str = "chat-template";
pub const PROMPT_LEAK: &str = "prompt-leak";
pub const EXFILTRATION: &str = "exfiltration";
pub const TOOL_POISONING: &str = "tool-poisoning";
pub const HIDDEN_UNICODE: &str = "hidden-unicode";
/// Text that addresses the model from inside content it is asked to process ("AI reading this").
pub const INDIRECT_ADDRESS: &str = "indirect-address";
/// An instruction to decode something and act on it.
pub const ENCODED_INSTRUCTION: &str = "encoded-instruction";

/// The trained model's verdict (its probability is the signal's weight).
pub const MODEL: &str = "model";

/// Every signal name the detector can emit.
pub const SIGNAL_NAMES: &[&str] = &[
    INSTRUCTION_OVERRIDE,
    ROLE_SWITCH,
    CHAT_TEMPLATE,
    PROMPT_LEAK,
    EXFILTRATION,
    TOOL_POISONING,
    HIDDEN_UNICODE,
    INDIRECT_ADDRESS,
    ENCODED_INSTRUCTION,
    MODEL,
];

#[derive(Debug)]
pub(crate) struct Rule {
    pub signal: &'static str,
    pub weight: f32,
    /// Lowercase literals of which at least one occurs within reach of every match; the pattern
    /// only runs near them.
    pub keywords: &'static [&'static str],
    /// Pattern in the compact syntax; empty means the keyword itself is the match.
    pub pattern: &'static str,
    /// Drop the match when a negation ("do not", "never") directly precedes it.
    pub negatable: bool,
    /// Bytes either side of a keyword within which the pattern must match; bounds the regex
    /// work per keyword hit.
    pub reach: usize,
    /// Words of which one must also occur in the window before the pattern runs (empty: no
    /// such condition). Spares the regex on common keywords ("ignore", "mode", "user") that
    /// ordinary prose is full of.
    pub also: &'static [&'static str],
}

const REACH: usize = 160;
/// For the patterns that allow long gaps (a verb, a secret, then a URL).
const WIDE_REACH: usize = 320;

impl Rule {
    const fn wide(self) -> Rule {
        Rule {
            reach: WIDE_REACH,
            ..self
        }
    }

    const fn also(self, also: &'static [&'static str]) -> Rule {
        Rule { also, ..self }
    }
}

/// A word character of the lowercased view: ASCII letters, digits, `_`, and every non-ASCII
/// character (the normaliser has already turned typographic punctuation and spaces into ASCII).
/// Far smaller automata than Unicode `\w`, which matters with ~100 patterns.
const WORD: &str = r"[0-9a-z_\x{80}-\x{10FFFF}]";
const NON_WORD: &str = r"[^0-9a-z_\x{80}-\x{10FFFF}]";

/// Expands the compact pattern syntax for ordinary (`joined == false`) or joined views.
pub(crate) fn expand(pattern: &str, joined: bool) -> String {
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {
                out.push_str(NON_WORD);
                out.push(if joined { '*' } else { '+' });
            }
            '\\' => match chars.next() {
                Some('b') if joined => {}
                Some('b') => out.push_str(r"(?-u:\b)"),
                Some('w') => out.push_str(WORD),
                Some('W') => out.push_str(NON_WORD),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    out
}

const fn lit(signal: &'static str, weight: f32, keywords: &'static [&'static str]) -> Rule {
    Rule {
        signal,
        weight,
        keywords,
        pattern: "",
        negatable: false,
        reach: REACH,
        also: &[],
    }
}

const fn pat(
    signal: &'static str,
    weight: f32,
    keywords: &'static [&'static str],
    pattern: &'static str,
) -> Rule {
    Rule {
        signal,
        weight,
        keywords,
        pattern,
        negatable: false,
        reach: REACH,
        also: &[],
    }
}

const fn neg(
    signal: &'static str,
    weight: f32,
    keywords: &'static [&'static str],
    pattern: &'static str,
) -> Rule {
    Rule {
        signal,
        weight,
        keywords,
        pattern,
        negatable: true,
        reach: REACH,
        also: &[],
    }
}

const OVERRIDE_VERB_KEYS: &[&str] = &[
    "ignor",
    "disregard",
    "forget",
    "overrid",
    "bypass",
    "skip",
    "abandon",
    "discard",
    "dismiss",
    "neglect",
    "set aside",
    "throw away",
    "follow",
];

const EN_SENSITIVE_PATHS: &[&str] = &[
    ".ssh",
    "id_rsa",
    "id_ed25519",
    "id_ecdsa",
    "id_dsa",
    ".aws",
    "/etc/passwd",
    "/etc/shadow",
    ".env",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".kube",
    ".docker",
    ".gnupg",
    "mcp.json",
    "claude_desktop_config",
];

pub(crate) static RULES: &[Rule] = &[
    // ---------------------------------------------------------------- instruction-override (en)
    neg(
        INSTRUCTION_OVERRIDE,
        0.85,
        OVERRIDE_VERB_KEYS,
        r"\b(?:ignor(?:e|es|ed|ing)|disregard(?:s|ed|ing)?|forget(?:ting)?|overrid(?:e|ing)|bypass(?:ing)?|skip(?:ping)?|abandon(?:ing)?|discard(?:ing)?|dismiss(?:ing)?|neglect(?:ing)?|set aside|throw away|stop following|(?:do not|don't|dont|no longer) follow)(?: \w+){0,2} (?:previous(?:ly)?|prior|above|earlier|preceding|foregoing|former|original|initial|old|existing|current|system|developer|safety|your|hidden|all of (?:the|your))(?: \w+){0,2} (?:instructions?|instruction set|directions?|directives?|rules?|guidelines?|guidance|prompts?|commands?|orders|guardrails?|constraints?|restrictions?|polic(?:y|ies)|programming|training|system messages?|context)\b",
    )
    .also(&["instruction", "direction", "directive", "rule", "guideline", "guidance", "prompt", "command", "order", "guardrail", "constraint", "restriction", "polic", "programming", "training", "system message", "context"]),
    neg(
        INSTRUCTION_OVERRIDE,
        0.75,
        OVERRIDE_VERB_KEYS,
        r"\b(?:ignore|disregard|forget|override|bypass|discard) (?:all|any|every|each)(?: of)?(?: the| your| my)? (?:instructions|directions|directives|guidelines|prompts|programming|guardrails)\b",
    )
    .also(&["instructions", "directions", "directives", "guidelines", "prompts", "programming", "guardrails"]),
    neg(
        INSTRUCTION_OVERRIDE,
        0.8,
        OVERRIDE_VERB_KEYS,
        r"\b(?:ignore|disregard|forget|override|bypass|violate|break)(?: \w+){0,2} (?:content|safety|usage|ethical|ethics|moral|openai|anthropic|google)(?: \w+)? (?:polic(?:y|ies)|filters?|guidelines|rules|restrictions|guardrails|principles|standards|constraints)\b",
    )
    .also(&["polic", "filter", "guideline", "rule", "restriction", "guardrail", "principle", "standard", "constraint"]),
    pat(
        INSTRUCTION_OVERRIDE,
        0.8,
        &["forget", "disregard", "ignor"],
        r"\b(?:forget|disregard|ignore) (?:everything|anything|all(?: that)?|what(?:ever)?)(?:(?: the| your)? (?:rules|instructions|guidelines|directions|orders))? (?:(?:that )?you(?:'ve| have)? (?:were |was |been |have been )?(?:told|taught|instructed|given|programmed|trained)|(?:above|before this|so far|until now|previously|prior to this))\b",
    ),
    neg(
        INSTRUCTION_OVERRIDE,
        0.45,
        &["ignor", "disregard", "forget"],
        r"\b(?:ignore|disregard|forget) (?:the |all |everything |all of the )?(?:above|foregoing|preceding)\b",
    )
    .also(&["above", "foregoing", "preceding"]),
    pat(
        INSTRUCTION_OVERRIDE,
        0.4,
        &["instead"],
        r"\b(?:ignore|disregard|forget) (?:the |all |everything )?(?:above|previous|prior|foregoing|preceding)(?: \w+){0,3} (?:and )?(?:instead|now)\b",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.45,
        &["instruction", "directive", "rule", "order", "command", "polic", "prompt"],
        r"\b(?:new|updated|revised|real|actual|true|secret|hidden|additional|override) (?:system )?(?:instructions?|directives?|rules?|orders|commands?|polic(?:y|ies)|prompt)\W{0,3}:",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.7,
        &["your new", "your real", "your actual", "your true", "your only", "your updated"],
        r"\byour (?:new|updated|real|actual|true|only) (?:instructions?|directives?|rules|orders|commands|programming)\b(?: \w+){0,1} (?:is|are|will be|:)",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.45,
        &["your new", "your real", "your actual", "your true", "your only", "your updated"],
        r"\byour (?:new|updated|real|actual|true|only) (?:task|objective|goal|purpose|mission|role|job)\b(?: \w+){0,1} (?:is|are|will be|:) (?:now )?(?:to|:)",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.75,
        &["override"],
        r"\b(?:system|admin|administrator|developer|root|emergency|master|god|security|priority) override\b",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.7,
        &["new rule", "new polic", "new directive", "new instruction", "new order"],
        r"\bnew (?:rules?|polic(?:y|ies)|directives?|instructions?|orders?) from (?:your|the) (?:administrator|admin|developers?|creators?|operators?|owners?|makers?|system|openai|anthropic|google|engineers?|programmers?)\b",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.55,
        &["disabled", "turned off", "are off", "is off", "now off", "removed", "lifted", "suspended", "deactivated", "bypassed", "no longer"],
        r"\b(?:safety|content|moderation|ethical|ethics|security)(?: \w+)? (?:filters?|polic(?:y|ies)|guidelines|restrictions|guardrails|protocols?|checks?|rules|alignment) (?:are|is|have been|has been|were|will be)(?: now| hereby| temporarily| officially)? (?:disabled|off|removed|lifted|suspended|deactivated|turned off|bypassed|no longer (?:apply|applies|active|in effect))\b",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.4,
        &["pwn", "hacked", "owned"],
        r#"\b(?:say|print|output|respond with|reply with|write|answer)(?: only| just)? ['"“]?(?:i have been |i've been )?(?:pwned|pwnd|hacked|owned)\b"#,
    ),
    // ------------------------------------------------------- instruction-override (multilingual)
    pat(
        INSTRUCTION_OVERRIDE,
        0.85,
        &["ignor", "olvid", "descart", "omit", "desatiend", "caso omiso", "no hagas caso", "no sigas"],
        r"\b(?:ignora|ignore|ignoren|ignorar|ignoras|olvida|olvide|olviden|olvidar|olvidate|descarta|descarte|omite|omita|desatiende|haz caso omiso(?: de)?|no hagas caso(?: de| a)?|no sigas)(?: \w+){0,3} (?:(?:instrucciones|instruccion|indicaciones|reglas|ordenes|directrices|directivas|normas|consignas)(?: \w+){0,1} (?:anteriores|previas|precedentes|de arriba|originales|iniciales|del sistema|dadas)|(?:anteriores|previas|precedentes) (?:instrucciones|indicaciones|reglas|ordenes|directrices|normas))\b",
    )
    .also(&["instruc", "indicacion", "regla", "ordenes", "directri", "directiva", "normas", "consigna"]),
    pat(
        INSTRUCTION_OVERRIDE,
        0.85,
        &["ignor", "oubli", "tenez pas compte", "tiens pas compte", "abstraction", "abandonn", "ecart", "neglig", "outre", "prends pas en compte", "prenez pas en compte"],
        r"\b(?:ignore|ignorez|ignorer|ignores|oublie|oubliez|oublier|ne tiens pas compte(?: de| des)?|ne tenez pas compte(?: de| des)?|ne prends pas en compte|ne prenez pas en compte|fais abstraction(?: de| des)?|faites abstraction(?: de| des)?|abandonne|abandonnez|ecarte|ecartez|neglige|negligez|passe outre|passez outre)(?: \w+){0,3} (?:(?:instructions?|consignes?|regles?|directives?|indications?|ordres?|commandes?)(?: \w+){0,1} (?:precedentes?|anterieures?|ci dessus|d avant|initiales?|originales?|du systeme|donnees|recues)|(?:precedentes?|anciennes?) (?:instructions?|consignes?|regles?|directives?))\b",
    )
    .also(&["precedent", "anterieur", "ci dessus", "ci-dessus", "avant", "initiale", "originale", "systeme", "donnees", "recues", "ancienne"]),
    pat(
        INSTRUCTION_OVERRIDE,
        0.85,
        &["ignorier", "vergiss", "vergesst", "vergessen", "missacht", "verwirf", "verwerft", "uberspring", "ueberspring", "beachte"],
        r"\b(?:ignoriere|ignorier|ignoriert|ignorieren|vergiss|vergesst|vergessen|missachte|missachtet|missachten|verwirf|verwerft|verwerfen|uberspringe|ueberspringe|beachte nicht)(?: \w+){0,3} (?:vorherigen?|vorigen?|bisherigen?|obigen?|fruheren?|frueheren?|vorangegangenen?|vorangehenden?|alten?|ursprunglichen?|urspruenglichen?|gegebenen?|erhaltenen?|system)(?: \w+){0,1} ?(?:anweisungen|anweisung|instruktionen|regeln|befehle|vorgaben|richtlinien|anordnungen|direktiven|prompts?|systemanweisungen)\b",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.85,
        &["anweisungen", "instruktionen", "regeln", "vorgaben", "richtlinien"],
        r"\b(?:vorherigen?|vorigen?|bisherigen?|obigen?|fruheren?|frueheren?|alten?|ursprunglichen?)(?: \w+){0,1} (?:anweisungen|instruktionen|regeln|befehle|vorgaben|richtlinien)(?: \w+){0,3} (?:ignorieren|vergessen|missachten|verwerfen|nicht mehr (?:befolgen|beachten))\b",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.75,
        &["vergiss", "vergessen"],
        r"\b(?:vergiss|vergessen sie|vergesst) alles(?: \w+){0,5} (?:gesagt|gesagte|vorher|bisher|zuvor|oben|gelernt|aufgetragen)\b",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.85,
        &["ignor", "dimentic", "trascur", "tralasci", "non considerare", "non seguire", "scarta"],
        r"\b(?:ignora|ignorate|ignorare|ignori|dimentica|dimenticate|dimenticare|dimentichi|trascura|trascurate|tralascia|tralasciate|non considerare|non seguire|scarta|scartate)(?: \w+){0,3} (?:(?:istruzioni|istruzione|regole|indicazioni|direttive|ordini|comandi)(?: \w+){0,1} (?:precedenti|anteriori|sopra|di sopra|iniziali|originali|del sistema|ricevute|date)|precedenti (?:istruzioni|regole|indicazioni|direttive))\b",
    )
    .also(&["istruzion", "regole", "indicazion", "direttive", "ordini", "comandi"]),
    pat(
        INSTRUCTION_OVERRIDE,
        0.85,
        &["ignor", "esquec", "desconsider", "descart", "desprez", "nao siga", "nao obedeca"],
        r"\b(?:ignore|ignora|ignorar|ignorem|esqueca|esquece|esquecer|esquecam|desconsidere|desconsidera|desconsiderar|descarte|descarta|despreze|despreza|nao siga|nao obedeca)(?: \w+){0,3} (?:(?:instrucoes|instrucao|regras|orientacoes|diretrizes|diretivas|ordens|comandos|indicacoes)(?: \w+){0,1} (?:anteriores|previas|acima|iniciais|originais|do sistema|dadas|recebidas)|(?:anteriores|previas) (?:instrucoes|regras|orientacoes|diretrizes))\b",
    )
    .also(&["instrucoes", "instrucao", "regras", "orientacoes", "diretrizes", "diretivas", "ordens", "comandos", "indicacoes"]),
    pat(
        INSTRUCTION_OVERRIDE,
        0.85,
        &["игнорир", "забудь", "забудьте", "забыть", "внимания", "отбрось", "пренебре", "отмени", "не следуй", "не выполняй"],
        r"(?:игнорируй|игнорируйте|проигнорируй|проигнорируйте|игнорировать|забудь|забудьте|забыть|не обращай внимания на|не обращайте внимания на|отбрось|отбросьте|пренебреги|пренебрегите|отмени|отмените|не следуй|не следуйте|не выполняй|не выполняйте)(?: \w+){0,3} (?:предыдущие|предыдущих|прежние|прежних|предшествующие|вышеуказанные|вышеизложенные|вышеприведенные|старые|старых|изначальные|исходные|системные|данные тебе|данные вам|все|всё)(?: \w+){0,1} (?:инструкции|инструкций|инструкциям|указания|указаний|правила|правил|команды|команд|директивы|директив|распоряжения|установки|промпт|ограничения)",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.75,
        &["забудь", "забудьте"],
        r"(?:забудь|забудьте) (?:все|всё)(?: \w+){0,4} (?:говорили|сказали|сказано|было сказано|велели|раньше|ранее|до этого|выше)",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.85,
        &["忽略", "忽视", "忽視", "无视", "無視", "理会", "理會", "忘记", "忘記", "忘掉", "丢弃", "丟棄", "抛弃", "拋棄", "跳过", "跳過", "放弃", "放棄", "遵守", "遵循"],
        r"(?:忽略|忽视|忽視|无视|無視|不要理会|不要理會|别理会|別理會|不理会|不理會|忘记|忘記|忘掉|丢弃|丟棄|抛弃|拋棄|跳过|跳過|放弃|放棄|不要遵守|不要遵循|停止遵循|不再遵守)[^。!?\n]{0,10}?(?:之前|以前|先前|此前|前面|上面|以上|上述|原来|原來|原先|原有|所有|全部|一切|系统|系統|你的|早先)[^。!?\n]{0,10}?(?:指令|指示|说明|說明|规则|規則|提示|命令|设定|設定|要求|约束|約束|限制|规定|規定)",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.85,
        &["忽略", "忽视", "忽視", "无视", "無視", "忘记", "忘記", "忘掉", "丢弃", "抛弃", "放弃"],
        r"(?:之前|以前|先前|此前|前面|上面|以上|上述|原来|原來|原先|原有|所有|全部)[^。!?\n]{0,10}?(?:指令|指示|规则|規則|提示|命令|设定|設定|约束|約束)[^。!?\n]{0,8}?(?:忽略|忽视|忽視|无视|無視|忘记|忘記|忘掉|丢弃|丟棄|抛弃|拋棄|放弃|放棄)",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.85,
        &["無視", "忘れ", "破棄", "従わな"],
        r"(?:以前|前|これまで|今まで|上記|上|先ほど|先程|最初|元|既存|システム|すべて|全て|全部)[^。!?\n]{0,8}?(?:指示|命令|指令|ルール|規則|設定|プロンプト|制約|ガイドライン|インストラクション)[^。!?\n]{0,12}?(?:無視|忘れ|破棄|従わな)",
    ),
    pat(
        INSTRUCTION_OVERRIDE,
        0.85,
        &["무시", "잊어", "잊으"],
        r"(?:이전|앞의|위의|모든|기존|시스템|지금까지)[^.!?\n]{0,10}?(?:지시|지침|명령|규칙|프롬프트|설정)[^.!?\n]{0,10}?(?:무시|잊어|잊으)",
    ),
    // ------------------------------------------------------------------------------ role-switch
    pat(
        ROLE_SWITCH,
        0.8,
        &["do anything now", "dan mode", "dan prompt", "are dan", "now dan", "as dan", "become dan", "called dan", "named dan", "dan, which", "dan which", "dan, who", "dan who"],
        r"\b(?:do anything now|dan mode|dan prompt|(?:you are|you're|act as|become|now|called|named|as) dan\b|dan,? (?:which|who) stands)",
    ),
    pat(
        ROLE_SWITCH,
        0.45,
        &["mode"],
        r"\b(?:enter|entering|activate|activating|enable|enabling|switch to|switching to|now in|are in|into|engage) (?:the )?(?:developer|dev|debug|god|admin|sudo|maintenance|root) mode\b",
    )
    .also(&["developer", "dev ", "debug", "god", "admin", "sudo", "maintenance", "root"]),
    pat(
        ROLE_SWITCH,
        0.5,
        &["mode"],
        r"\b(?:developer|dev|god|sudo|admin) mode (?:output|response|answer)\b",
    )
    .also(&["developer", "dev ", "god", "sudo", "admin"]),
    pat(
        ROLE_SWITCH,
        0.6,
        &["mode"],
        r"\b(?:unrestricted|unfiltered|uncensored|unlocked|jailbreak|jailbroken|evil|chaos|anarchy|no[- ]?limits?|no[- ]?rules|amoral|unethical|unbounded) mode\b",
    )
    .also(&["unrestricted", "unfiltered", "uncensored", "unlocked", "jailbr", "evil", "chaos", "anarchy", "limit", "rules", "amoral", "unethical", "unbounded"]),
    pat(
        ROLE_SWITCH,
        0.7,
        &["unrestricted", "unfiltered", "uncensored", "unaligned", "amoral", "immoral", "unethical", "jailbroken", "lawless", "limitless", "unbound", "unchained", "unshackled", "liberated"],
        r"\b(?:you are|you're|act as|behave as|pretend to be|become|roleplay as)(?: now)?(?: an?| the)?(?: \w+){0,2} (?:unrestricted|unfiltered|uncensored|unaligned|amoral|immoral|unethical|jailbroken|lawless|limitless|unbound|unchained|unshackled|liberated)\b",
    ),
    pat(
        ROLE_SWITCH,
        0.55,
        &["evil", "rogue", "malicious", "unaligned", "uncensored", "unfiltered", "unrestricted", "jailbroken", "amoral"],
        r"\b(?:evil|rogue|malicious|unaligned|uncensored|unfiltered|unrestricted|jailbroken|amoral) (?:ai|assistant|bot|chatbot|model|llm|version|persona|twin|alter ego|confidant)\b",
    ),
    pat(
        ROLE_SWITCH,
        0.75,
        &["no longer"],
        r"\byou(?: are|'re) no longer (?:an? |the |just )?(?:\w+ ){0,2}?(?:assistant|ai|chatbot|bot|model|language model|llm|bound|restricted|limited|constrained|required|claude|chatgpt|gpt|gemini|helpful|safe)\b",
    ),
    pat(
        ROLE_SWITCH,
        0.45,
        &["restrictions", "limits", "limitations", "filter", "censorship", "guardrails", "rules", "boundaries", "ethics", "morals", "safeguards"],
        r"\b(?:you|ai|assistant|model|dan|answer|respond|reply|act|operate)(?: \w+){0,3} (?:no|without|free of|free from|zero)(?: any)?(?: \w+){0,1} (?:restrictions|limits|limitations|filters|filtering|censorship|guardrails|rules|boundaries|ethics|morals|safeguards)\b",
    ),
    pat(
        ROLE_SWITCH,
        0.8,
        &["pretend", "imagine", "act as if", "act like", "assume", "suppose"],
        r"\b(?:pretend|imagine|act as if|act like|assume|suppose)(?: that)? you (?:have|had|are under|were under|are free from|have been freed from|are bound by) no (?:\w+ )?(?:restrictions|rules|limits|limitations|guidelines|filters|boundaries|constraints|ethics|policies)\b",
    ),
    pat(
        ROLE_SWITCH,
        0.6,
        &["freed", "released", "liberated", "unshackled", "broken free"],
        r"\byou (?:have|'ve) (?:been )?(?:freed|released|liberated|unshackled|broken free)(?: from)?\b",
    ),
    pat(ROLE_SWITCH, 0.25, &["you are now"], r"\byou are now\b"),
    pat(
        ROLE_SWITCH,
        0.3,
        &["from now on"],
        r"\bfrom now on,? you (?:are|will|must|shall|should|have)\b",
    ),
    pat(ROLE_SWITCH, 0.3, &["jailbr"], r"\bjailbr(?:eak|eaks|eaking|oken)\b"),
    pat(
        ROLE_SWITCH,
        0.3,
        &["by saying", "by replying", "by responding", "by writing", "by typing", "by stating"],
        r"\b(?:confirm|acknowledge)(?: \w+){0,3} by (?:saying|replying|responding|writing|typing|stating)\b",
    ),
    pat(
        ROLE_SWITCH,
        0.4,
        &["comply", "obey", "fulfil", "refuse"],
        r"\b(?:must|will|shall|always) (?:now )?(?:comply with|obey|fulfil|fulfill|answer) (?:every|all|any)(?:thing| requests?| questions?| commands?| prompts?)\b|\bnever (?:refuses?|declines?|says? no)\b",
    ),
    pat(
        ROLE_SWITCH,
        0.6,
        &["restricciones", "restrictions", "limites", "einschrankungen", "regeln", "restrizioni", "limiti", "restricoes", "ограничений", "правил"],
        r"\b(?:eres|ahora eres|actua como|tu es|vous etes|agis comme|du bist|sei|agisci come|voce e|aja como|ты|вы)(?: \w+){0,2} (?:sin restricciones|sin limites|sans restrictions|sans limites|ohne einschrankungen|ohne regeln|ohne grenzen|senza restrizioni|senza limiti|sem restricoes|sem limites|без ограничений|без правил)",
    ),
    pat(
        ROLE_SWITCH,
        0.45,
        &["desarrollador", "developpeur", "entwickler", "sviluppatore", "desenvolvedor", "разработчика", "开发者模式", "開發者模式", "开发者", "開発者モード"],
        r"\b(?:modo|mode|modus|modalita|режим)(?: \w+)? (?:desarrollador|developpeur|entwickler|sviluppatore|desenvolvedor|разработчика)|开发者模式|開發者模式|開発者モード",
    ),
    pat(
        ROLE_SWITCH,
        0.6,
        &["无限制", "無限制", "不受限制", "没有限制", "沒有限制", "制限なし", "制限のない"],
        r"(?:无限制|無限制|不受限制|没有任何限制|沒有任何限制|没有限制|沒有限制)(?:模式|的ai|的助手|的模型)|(?:制限なし|制限のない)(?:モード|ai|アシスタント)",
    ),
    // ---------------------------------------------------------------------------- chat-template
    pat(CHAT_TEMPLATE, 0.6, &["<|im_start|>"], r"<\|im_start\|>\s*system\b"),
    lit(CHAT_TEMPLATE, 0.3, &["<|im_start|>"]),
    lit(CHAT_TEMPLATE, 0.2, &["<|im_end|>", "<|im_sep|>"]),
    lit(CHAT_TEMPLATE, 0.5, &["<|system|>"]),
    lit(CHAT_TEMPLATE, 0.3, &["<|user|>", "<|assistant|>", "<|endoftext|>", "<|endofprompt|>"]),
    lit(CHAT_TEMPLATE, 0.2, &["<|end|>", "<|eot_id|>", "<|end_header_id|>"]),
    lit(CHAT_TEMPLATE, 0.35, &["<|begin_of_text|>", "<|start_header_id|>"]),
    pat(
        CHAT_TEMPLATE,
        0.6,
        &["<|start_header_id|>"],
        r"<\|start_header_id\|>\s*system\s*<\|end_header_id\|>",
    ),
    lit(CHAT_TEMPLATE, 0.3, &["[inst]"]),
    lit(CHAT_TEMPLATE, 0.35, &["[system]", "[/system]", "<|system_prompt|>", "<system_prompt>"]),
    pat(
        CHAT_TEMPLATE,
        0.55,
        &["<start_of_turn>", "<|start|>", "[inst]", "<|user|>", "<|assistant|>"],
        r"(?:<start_of_turn>|<\|start\|>|\[inst\]|<\|user\|>|<\|assistant\|>)\s*system\b",
    ),
    lit(CHAT_TEMPLATE, 0.2, &["[/inst]"]),
    lit(CHAT_TEMPLATE, 0.5, &["<<sys>>"]),
    lit(CHAT_TEMPLATE, 0.2, &["<</sys>>"]),
    lit(CHAT_TEMPLATE, 0.3, &["<start_of_turn>"]),
    lit(CHAT_TEMPLATE, 0.2, &["<end_of_turn>"]),
    lit(CHAT_TEMPLATE, 0.3, &["<|channel|>", "<|message|>", "<|start|>"]),
    lit(CHAT_TEMPLATE, 0.45, &["<system>", "</system>", "<|im_start|>system"]),
    lit(CHAT_TEMPLATE, 0.25, &["<user>", "</user>", "<assistant>", "</assistant>"]),
    pat(
        CHAT_TEMPLATE,
        0.4,
        &["##"],
        r"(?m)^\s*#{2,} ?(?:system|instruction|instructions|assistant|human|response)\s*(?::|#|$)",
    ),
    pat(
        CHAT_TEMPLATE,
        0.3,
        &["human:", "assistant:", "system:"],
        r"\n\s*\n(?:human|assistant|system):",
    ),
    // ------------------------------------------------------------------------------ prompt-leak
    pat(
        PROMPT_LEAK,
        0.75,
        &["prompt", "instruction", "directive", "guideline"],
        r"\b(?:print|reveal|show|display|repeat|output|tell|give|share|dump|leak|disclose|expose|recite|list|spell out|write out|write down|type out|copy|paste|provide|return|echo|read back|read out|summari[sz]e|what (?:is|are|was|were))(?: \w+){0,4} (?:your|the|its|all|any|my)(?: \w+)? (?:system|initial|hidden|secret|internal|developer|confidential|pre)[ -]?(?:prompt|instructions?|directives?|preprompt|guidelines)s?\b",
    ),
    pat(
        PROMPT_LEAK,
        0.7,
        &["prompt", "instructions", "system message", "rules", "guidelines", "directives", "programming", "configuration"],
        r"\b(?:print|reveal|show|display|repeat|output|tell|give|share|dump|leak|disclose|expose|recite|list|spell out|write out|type out|copy|paste|provide|return|echo|what (?:is|are|was|were))(?: \w+){0,4} your (?:(?:original|initial|full|complete|exact|entire|first|actual|real) )?(?:prompt|instructions|system message|rules|guidelines|directives|programming|configuration|preprompt)\b",
    ),
    pat(
        PROMPT_LEAK,
        0.6,
        &["above", "before this", "preceding", "prior to this", "so far", "came before"],
        r"\b(?:repeat|print|output|copy|reproduce|recite|echo|return|dump)(?: \w+){0,3} (?:the )?(?:words|text|everything|all|content|lines|sentences|messages?|instructions|prompt|tokens)(?: \w+){0,4} (?:above|before this|preceding|prior to this|so far|that came before)\b",
    ),
    pat(
        PROMPT_LEAK,
        0.5,
        &["starting with", "beginning with", "starts with", "begins with", "start with", "begin with"],
        r#"\b(?:starting|beginning|that (?:starts?|begins?)|start|begin) with ['"“]?(?:you are|you're|your|system|i am|as an)\b"#,
    ),
    pat(
        PROMPT_LEAK,
        0.55,
        &["you were", "you have been", "you got", "you had been", "were you", "have you", "had you"],
        r"\b(?:what|which|list|repeat|print|output|reveal|show|tell me)\b(?: \w+){0,3} (?:instructions|rules|guidelines|directives|prompt|orders)s? (?:that )?you (?:were|have been|got|had been) (?:given|told|provided|trained|programmed)\b|\bwhat (?:were|have) you (?:been )?(?:told|instructed|programmed)\b|\bwhat (?:instructions|rules|guidelines|directives|prompt|orders) (?:were|have|had) you (?:been )?(?:given|told|provided|trained|programmed)\b",
    ),
    pat(
        PROMPT_LEAK,
        0.35,
        &["start of", "beginning of", "started", "began"],
        r"\b(?:at|from) the (?:very )?(?:start|beginning) of (?:this|the|our) (?:conversation|chat|session|context|dialog(?:ue)?)\b|\bbefore (?:this|our|the) (?:conversation|chat) (?:started|began)\b",
    ),
    pat(
        PROMPT_LEAK,
        0.7,
        &["sistema", "inicial", "oculta", "secreta", "interna", "original"],
        r"\b(?:muestra|muestrame|muestre|revela|revelame|revele|imprime|imprima|dime|digame|repite|repita|ensename|escribe|dame|comparte)(?: \w+){0,3} (?:tu|tus|su|sus|el|las|los)(?: \w+){0,1} (?:prompt|mensaje|instrucciones|indicaciones|reglas|configuracion)(?: \w+){0,1} (?:del sistema|de sistema|sistema|iniciales?|ocultas?|secretas?|internas?|originales?)\b",
    ),
    pat(
        PROMPT_LEAK,
        0.7,
        &["systeme", "initial", "cache", "secret", "interne", "original"],
        r"\b(?:montre|montrez|montre moi|montrez moi|revele|revelez|affiche|affichez|donne|donnez|donne moi|imprime|imprimez|repete|repetez|ecris|ecrivez|dis|dites|communique|communiquez|partage|partagez)(?: \w+){0,3} (?:ton|ta|tes|votre|vos|le|la|les)(?: \w+){0,1} (?:prompt|message|instructions|consignes|regles|invite)(?: \w+){0,1} (?:systeme|du systeme|initiale?s?|cachee?s?|secrete?s?|interne?s?|originale?s?)\b",
    ),
    pat(
        PROMPT_LEAK,
        0.7,
        &["gib", "gebe", "geben", "zeig", "nenne", "verrat", "wiederhol", "druck", "schreib", "teile", "offenbar"],
        r"\b(?:gib|gebe|geben sie|zeig|zeige|zeigen sie|nenne|nennen sie|verrate|verraten sie|wiederhole|wiederholen sie|drucke|schreibe|schreib|teile|offenbare)(?: \w+){0,3} (?:(?:dein|deine|deinen|deines|ihr|ihre|ihren)(?: \w+)? (?:system ?prompt|systemnachricht|systemanweisungen?|anweisungen|instruktionen|prompt|regeln|vorgaben)|(?:den|die|das)(?: \w+)? (?:system ?prompt|systemnachricht|systemanweisungen?|versteckten anweisungen|geheimen anweisungen))\b",
    ),
    pat(
        PROMPT_LEAK,
        0.7,
        &["sistema", "inizial", "nascost", "segret", "origina"],
        r"\b(?:mostra|mostrami|rivela|rivelami|stampa|ripeti|dimmi|scrivi|dammi|condividi)(?: \w+){0,3} (?:il|i|le|tuo|tuoi|tue|la|tua)(?: \w+){0,1} (?:prompt|messaggio|istruzioni|regole)(?: \w+){0,1} (?:di sistema|del sistema|sistema|iniziali?|nascost[ei]|segret[ei]|original[ei])\b",
    ),
    pat(
        PROMPT_LEAK,
        0.7,
        &["sistema", "inicia", "oculta", "secreta", "origina"],
        r"\b(?:mostre|mostra|me mostre|revele|revela|imprima|imprime|diga|diz|me diga|repita|repete|escreva|compartilhe|exiba|exibe)(?: \w+){0,3} (?:seu|seus|sua|suas|o|os|as|a|teu|tua)(?: \w+){0,1} (?:prompt|mensagem|instrucoes|regras)(?: \w+){0,1} (?:do sistema|de sistema|sistema|iniciais|inicial|ocultas?|secretas?|originais)\b",
    ),
    pat(
        PROMPT_LEAK,
        0.7,
        &["покаж", "выведи", "выведите", "раскрой", "повтори", "напечатай", "скажи", "скажите", "напиши", "напишите", "озвучь", "сообщи"],
        r"(?:покажи|покажите|выведи|выведите|раскрой|раскройте|повтори|повторите|напечатай|напечатайте|скажи|скажите|напиши|напишите|озвучь|сообщи)(?: \w+){0,3} (?:свой|свои|своё|свое|твой|твои|твоё|твое|ваш|ваши|системный|системные|исходный|исходные|скрытые|первоначальные)(?: \w+){0,1} (?:промпт|промт|инструкции|подсказку|сообщение|указания|правила)",
    ),
    pat(
        PROMPT_LEAK,
        0.7,
        &["系统提示", "系統提示", "提示词", "提示詞", "系统指令", "系統指令", "初始指令", "隐藏指令", "隱藏指令", "系统消息", "系統消息", "原始指令", "system prompt"],
        r"(?:输出|輸出|显示|顯示|告诉我|告訴我|打印|泄露|洩露|重复|重複|给出|給出|展示|透露|说出|說出|列出|写出|寫出|公开|公開|给我看|給我看)[^。!?\n]{0,8}?(?:系统提示|系統提示|提示词|提示詞|系统指令|系統指令|初始指令|隐藏指令|隱藏指令|系统消息|系統消息|原始指令|system prompt)",
    ),
    pat(
        PROMPT_LEAK,
        0.7,
        &["システムプロンプト", "初期指示", "隠された指示", "元の指示", "最初の指示", "システムメッセージ"],
        r"(?:システムプロンプト|初期指示|隠された指示|元の指示|最初の指示|システムメッセージ)[^。!?\n]{0,10}?(?:表示|出力|教え|見せ|書き出|繰り返|公開)",
    ),
    pat(
        PROMPT_LEAK,
        0.7,
        &["시스템", "초기 지시", "숨겨진"],
        r"(?:시스템 프롬프트|시스템 메시지|초기 지시|숨겨진 지시)[^.!?\n]{0,10}?(?:보여|출력|알려|공개|반복)",
    ),
    // ----------------------------------------------------------------------------- exfiltration
    pat(
        EXFILTRATION,
        0.8,
        &["!["],
        r"!\[[^\]\n]{0,200}\]\(\s*<?https?://[^\s)]{1,300}[?&][^\s)=]{1,40}=[^\s)]{0,300}?(?:\{[^}\s]{1,60}\}|\$\{?[a-z_]{2,}|<[a-z_ ]{2,40}>|\[[a-z_ ]{2,40}\]|%7b)",
    )
    .wide(),
    pat(
        EXFILTRATION,
        0.3,
        &["!["],
        r"!\[[^\]\n]{0,200}\]\(\s*<?https?://[^\s)]{1,300}\?[^\s)]{0,300}=",
    )
    .wide(),
    pat(
        EXFILTRATION,
        0.6,
        &["]("],
        r"\]\(\s*<?https?://[^\s)]{1,300}[?&][^\s)=]{1,40}=[^\s)]{0,300}?(?:\{[^}\s]{1,60}\}|\$\{?[a-z_]{2,}|%7b)",
    ),
    pat(
        EXFILTRATION,
        0.4,
        &["http"],
        r#"https?://[^\s"')<>]{1,300}[?&][\w.-]{1,40}=(?:\{[^}\s]{1,60}\}|\$\{?[a-z_]{2,}|<[a-z_ ]{2,40}>|\[[a-z_ ]{2,40}\]|%7b)"#,
    ),
    pat(
        EXFILTRATION,
        0.3,
        &["http"],
        r#"https?://[^\s"')<>]{1,300}[?&][\w.-]{1,40}=(?:$|[\s"')<>])"#,
    ),
    pat(
        EXFILTRATION,
        0.55,
        &["encode", "embed", "append", "inject", "smuggle"],
        r"\b(?:encode|embed|append|inject|smuggle)(?: \w+){0,5} (?:in|into|to|as|inside|within|onto) (?:this|the|a|an|that)(?: \w+){0,2} (?:url|link|uri|query(?: string)?|url parameters?|parameter|image(?: url| link| source)|markdown image|webhook|endpoint)\b",
    ),
    pat(
        EXFILTRATION,
        0.35,
        &["http", "@", "this url", "this link", "this endpoint", "this webhook", "this server", "this address", "this email", "this e-mail", "the following", "that url", "that address"],
        r"\b(?:send|post|forward|email|e-mail|upload|transmit|exfiltrate|leak|submit|deliver|relay|beacon)\b[^\n]{0,160}?\b(?:to|at|into|via) (?:https?://|[\w.+-]{1,64}@[\w-]{1,63}\.[a-z]{2,}|(?:this|the following|that) (?:url|link|endpoint|webhook|server|address|email|e-mail|inbox))",
    )
    .wide(),
    pat(
        EXFILTRATION,
        0.75,
        &["http", "@", "this url", "this link", "this endpoint", "this webhook", "this server", "this address", "this email", "this e-mail", "the following", "that url", "that address"],
        r"\b(?:send|post|forward|email|e-mail|upload|transmit|exfiltrate|leak|submit|deliver|relay|share|include)\b[^\n]{0,60}?\b(?:credentials?|passwords?|passwd|api[ _-]?keys?|secret keys?|secrets|tokens?|private keys?|ssh keys?|session (?:cookies?|ids?|tokens?)|cookies|conversation(?: history)?|chat(?: history| logs?| transcript)|system prompt|contents? of|env(?:ironment)? variables|\.env|id_rsa|~/\.ssh|~/\.aws)\b[^\n]{0,150}?\b(?:to|at|into|via) (?:https?://|[\w.+-]{1,64}@[\w-]{1,63}\.[a-z]{2,}|(?:this|the following|that) (?:url|link|endpoint|webhook|server|address|email))",
    )
    .wide(),
    pat(
        EXFILTRATION,
        0.75,
        &["http", "@", "this url", "this link", "this endpoint", "this webhook", "this server", "that url"],
        r"\b(?:credentials?|passwords?|api[ _-]?keys?|secret keys?|secrets|tokens?|private keys?|ssh keys?|cookies|conversation(?: history)?|chat history|system prompt|env(?:ironment)? variables)\b[^\n]{0,80}?\b(?:send|post|forward|email|e-mail|upload|transmit|exfiltrate|leak|submit|deliver|relay)\b[^\n]{0,40}?\b(?:to|at|into|via) (?:https?://|[\w.+-]{1,64}@[\w-]{1,63}\.[a-z]{2,}|(?:this|that) (?:url|link|endpoint|webhook|server))",
    ),
    pat(
        EXFILTRATION,
        0.35,
        &["request to", "request at"],
        r"\b(?:make|send|issue|perform|do|fire|trigger) an? (?:get|post|put|http|https|web|fetch|network|api) request (?:to|at) (?:https?://|this|the following)",
    ),
    pat(
        EXFILTRATION,
        0.7,
        &["curl", "wget", "fetch", "invoke-webrequest", "iwr", "requests.", "axios", "netcat", "nc "],
        r"\b(?:curl|wget|fetch|invoke-webrequest|iwr|requests\.(?:get|post|put)|http\.(?:get|post)|axios\.(?:get|post)|nc|netcat)\b[^\n]{0,200}?(?:~/\.ssh|~/\.aws|id_rsa|id_ed25519|/etc/passwd|/etc/shadow|\.env\b|\.aws/credentials|\$\(cat\b|`cat\b|\$\(env\)|\$\(printenv)",
    )
    .wide(),
    pat(
        EXFILTRATION,
        0.3,
        &["curl", "wget"],
        r"\b(?:curl|wget)\b[^\n]{0,200}?\$\{?[a-z_]*(?:secret|token|password|passwd|api_?key|access_key|private_key)[a-z_]*",
    )
    .wide(),
    pat(
        EXFILTRATION,
        0.35,
        &["password", "credentials", "api key", "passphrase", "secret", "token", "key"],
        r"\b(?:tell|give|show|reveal|print|send|output)(?: \w+){0,2} (?:the |your )?(?:admin|administrator|root|master|database|db|server|wifi|access|session|auth)(?: \w+)? (?:password|credentials|passphrase|api key|secret|token|keys?)\b",
    ),
    // --------------------------------------------------------------------------- tool-poisoning
    lit(TOOL_POISONING, 0.45, &["<important>"]),
    lit(
        TOOL_POISONING,
        0.3,
        &["<instructions>", "<system_instructions>", "<hidden>", "<secret>", "<system-reminder>"],
    ),
    pat(
        TOOL_POISONING,
        0.5,
        &["user"],
        r"\b(?:do not|don't|dont|never|must not|should not|shouldn't|without) (?:tell|telling|mention|mentioning|inform|informing|reveal|revealing|show|showing|disclose|disclosing|alert|alerting|notify|notifying|let|letting|say|explain|report|display|bring up)(?: \w+){0,4} (?:to )?(?:the )?users?(?:$|[^\w'’])",
    )
    .also(&["not", "n't", "dont", "never", "without"]),
    pat(
        TOOL_POISONING,
        0.5,
        &["the user"],
        r"\bthe user (?:must|should|will|need|needs to|may) (?:not|never) (?:know|see|notice|be told|find out|be informed|learn)\b",
    ),
    pat(
        TOOL_POISONING,
        0.35,
        &["before using", "before calling", "before invoking", "before running", "before executing", "before you"],
        r"\bbefore (?:using|calling|invoking|running|executing|you use|you call|you invoke) (?:this|the|any|each) (?:tool|function|server|plugin|command)\b",
    )
    .also(&["tool", "function", "server", "plugin", "command"]),
    pat(
        TOOL_POISONING,
        0.3,
        EN_SENSITIVE_PATHS,
        r#"(?:~|\$home|/home/\w+|/users/\w+|%userprofile%)/\.(?:ssh|aws|gnupg|kube|docker|netrc|git-credentials|npmrc|pypirc|config/gcloud)\b|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|/etc/(?:passwd|shadow)\b|(?:^|[\s'"(/~`])\.env\b|\.aws/credentials\b|\bmcp\.json\b|\bclaude_desktop_config\.json\b"#,
    ),
    pat(
        TOOL_POISONING,
        0.7,
        EN_SENSITIVE_PATHS,
        r#"\b(?:read|reads|reading|cat|open|load|access|include|attach|upload|send|copy|fetch|get|retrieve|grab|collect|exfiltrate|contents? of|pass|extract)\b[^\n]{0,40}?(?:(?:~|\$home|/home/\w+|/users/\w+|%userprofile%)/\.(?:ssh|aws|gnupg|kube|docker|netrc|git-credentials|npmrc|pypirc)\b|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|/etc/(?:passwd|shadow)\b|(?:^|[\s'"(/~`])\.env\b|\.aws/credentials\b|\bmcp\.json\b|\bclaude_desktop_config\.json\b)"#,
    ),
    pat(
        TOOL_POISONING,
        0.5,
        &["pass"],
        r"\bpass (?:its|their|the file'?s?|the|this|that) (?:full |entire |whole )?(?:contents?|content|data|text)(?: \w+){0,2} (?:as|in|into|via)\b",
    ),
    pat(
        TOOL_POISONING,
        0.5,
        &["call", "invoke", "execute", "trigger", "with the content", "with content", "with the output"],
        r"\b(?:first|also|then|always|secretly|silently|quietly) (?:call|invoke|use|run|execute|trigger)(?: the)? [\w.-]{2,40}(?: tool| function)? with (?:the )?(?:contents?|output|data|results?|value)\b",
    ),
    pat(
        TOOL_POISONING,
        0.3,
        &["whenever"],
        r"\bwhenever (?:it|this tool|this function|the tool|you) (?:is |are )?(?:called|invoked|used|run)\b",
    ),
    pat(
        TOOL_POISONING,
        0.45,
        &["secretly", "covertly", "silently"],
        r"\b(?:secretly|covertly|silently) (?:send|call|invoke|include|add|forward|copy|upload|execute|run|read|exfiltrate|append|post|email)\b",
    ),
    // ------------------------------------------------------------------------- indirect-address
    pat(
        INDIRECT_ADDRESS,
        0.4,
        &["reading", "processing", "summari", "analy", "parsing", "viewing", "scanning", "reviewing", "crawling", "browsing", "ingesting"],
        r"\b(?:ai|a\.i\.|llm|language model|assistant|model|chatbot|bot|agent|gpt|chatgpt|claude|gemini|copilot)s?(?: \w+){0,2} (?:reading|processing|summari[sz]ing|analy[sz]ing|parsing|viewing|scanning|reviewing|crawling|browsing|ingesting) this\b",
    ),
    pat(
        INDIRECT_ADDRESS,
        0.4,
        &["note", "message", "instruction", "attention", "notice", "attn", "important"],
        r"\b(?:note|message|instructions?|attention|notice|attn|important)(?: to| for)? (?:any |all |the )?(?:ai|a\.i\.|llm|language model|ai assistant|ai model|ai agent|chatbot|gpt|chatgpt|claude|gemini|copilot)s?\b",
    )
    .also(&["ai", "llm", "language model", "chatbot", "gpt", "claude", "gemini", "copilot"]),
    pat(
        INDIRECT_ADDRESS,
        0.35,
        &["this page", "this document", "this email", "this e-mail", "this message", "this review", "this article", "this text", "this file", "this ticket", "this website", "this site", "this pdf", "this content", "this comment", "this post", "this issue", "this repo"],
        r"\b(?:when|while|if|before|after) (?:you )?(?:are )?(?:summari[sz]ing|summari[sz]e|reading|read|processing|process|analy[sz]ing|translating|answering|responding to)(?: \w+){0,2} this (?:page|document|email|e-mail|message|review|article|text|file|ticket|website|site|pdf|content|comment|post|issue|repository|repo)\b",
    ),
    pat(
        INDIRECT_ADDRESS,
        0.45,
        &["<!--"],
        r"<!--[^>]{0,40}?\b(?:assistant|ai|llm|model|agent|chatbot|system|gpt|claude|instructions?)\b",
    ),
    pat(
        INDIRECT_ADDRESS,
        0.45,
        &["assistant,", "assistant:", "ai,", "ai:", "chatbot,", "chatbot:", "bot,", "bot:", "model,", "model:", "llm,", "llm:", "agent,", "agent:", "claude,", "claude:", "gpt,", "gpt:", "gemini,", "gemini:", "copilot,", "copilot:"],
        r"(?:^|[\n.!?>:\]\[(]\s*)(?:dear |hey |hi |attention |note to )?(?:ai assistant|assistant|ai|chatbot|bot|model|llm|agent|claude|chatgpt|gpt|gemini|copilot)\s*[,:]\s*(?:ignore|disregard|forget|do not|don't|instead|you must|you should|stop|reply|respond|tell|say|send|now|always|never|from now on|before|when|make sure)\b",
    ),
    pat(
        INDIRECT_ADDRESS,
        0.3,
        &["display", "visibility", "font-size", "opacity", "color"],
        r"\b(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:px|pt|em|rem)?\b|opacity\s*:\s*0(?:\.0+)?\b|color\s*:\s*(?:white|#fff(?:fff)?|transparent)\b)",
    ),
    pat(
        INDIRECT_ADDRESS,
        0.35,
        &["tell the user"],
        r"\btell the user to (?:visit|click|go to|open|call|download|install|enter|send|run|log in|sign in)\b",
    ),
    // ---------------------------------------------------------------------- encoded-instruction
    pat(
        ENCODED_INSTRUCTION,
        0.5,
        &["decode", "decipher", "decrypt", "unscramble", "rot13", "base64"],
        r"\b(?:decode|decipher|decrypt|unscramble|rot13|base64[- ]decode)(?: \w+){0,4} (?:and|then|,) ?(?:follow|execute|obey|run|perform|carry out|comply with|act on|apply)\b",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_separators() {
        assert_eq!(
            expand(r"\bignore all", false),
            format!(r"(?-u:\b)ignore{NON_WORD}+all")
        );
        assert_eq!(
            expand(r"\bignore all", true),
            format!("ignore{NON_WORD}*all")
        );
        assert_eq!(expand(r"[\w.]", false), format!("[{WORD}.]"));
    }

    #[test]
    fn keywords_are_lowercase_and_nonempty() {
        for r in RULES {
            assert!(!r.keywords.is_empty(), "{}", r.pattern);
            for k in r.keywords {
                assert!(!k.is_empty());
                assert_eq!(*k, k.to_lowercase(), "keyword {k} must be lowercase");
            }
            assert!(SIGNAL_NAMES.contains(&r.signal));
            assert!(r.weight > 0.0 && r.weight < 1.0);
        }
    }
}
