"""English explanation templates (the default language).

Every list holds interchangeable phrasings of the same statement; the explainer picks one with a
random generator seeded from the face's measurements, so the same face always gets the same text
and different faces get varied text. Fields in braces are filled from measured values only.

Intensity is always written as "intensity <letter> (<value>, <band word>)": the faithfulness
validator reads that pattern back, so a template (or an LLM reply) that states a different letter,
value or band word than was measured is caught.
"""

TEMPLATES = {
    "headings": {
        "observations": "Key observations",
        "interpretation": "Overall emotional interpretation",
        "conclusion": "Conclusion",
    },
    # FACS band names (Ekman, Friesen & Hager 2002).
    "band_words": {"A": "trace", "B": "slight", "C": "marked", "D": "severe", "E": "maximum"},
    # Words that name each label; the validator uses them to find the label a conclusion states.
    "emotion_words": {
        "neutral": ["neutral"],
        "happiness": ["happiness", "happy", "joy", "joyful"],
        "surprise": ["surprise", "surprised"],
        "sadness": ["sadness", "sad"],
        "anger": ["anger", "angry"],
        "disgust": ["disgust", "disgusted"],
        "fear": ["fear", "fearful", "afraid", "scared"],
        "contempt": ["contempt", "contemptuous"],
    },
    # Cues that make a sentence a statement of absence (it may name AUs that are not active).
    "negation_cues": ["absent", "without", "no ", "not ", "missing", "lacks", "none"],
    "list_and": "and",
    # Verb agreement for "{aus} {be} ...": singular, plural.
    "be": ["is", "are"],
    "list_or": "or",
    "observation": [
        "{code} ({name}) is active at intensity {band} ({value}, {band_word}): {description}{evidence}.",
        "{code} {name} shows at intensity {band} ({value}, {band_word}), with {description}{evidence}.",
        "At intensity {band} ({value}, {band_word}), {code} ({name}) means {description}{evidence}.",
    ],
    "observation_evidence": [", evidence for {emotions}", ", which points to {emotions}", ", a sign of {emotions}"],
    "observation_no_emotion": [", part of no emotion prototype", ", not specific to any emotion"],
    "observation_one_sided": [
        " It is one-sided: the left and right sides differ by {asymmetry}.",
        " The two sides of the face differ by {asymmetry} for it.",
    ],
    "no_observation": [
        "No action unit reaches intensity A; the face is at rest.",
        "None of the measured action units reaches intensity A, so the face shows no clear movement.",
    ],
    "patterns": {
        "duchenne_smile": [
            "{aus} together form the Duchenne pattern of a felt smile: the cheeks rise with the lip corners.",
            "The smile reaches the eyes ({aus}), the Duchenne marker of felt enjoyment.",
        ],
        "social_smile": [
            "The smile ({aus}) comes without cheek raising, which is typical of a polite or social smile rather than a felt one.",
            "The lip corners rise ({aus}) without the cheeks joining in, more a social smile than a felt one.",
        ],
        "sad_brow": [
            "{aus} together give the raised-and-drawn inner brow seen in sadness and fear.",
            "The inner brows are raised and pulled together ({aus}), a brow shape of sadness or fear.",
        ],
        "fear_brow": [
            "{aus} together form the raised, straightened brow typical of fear.",
            "The whole brow is raised and drawn together ({aus}), the classic fear brow.",
        ],
        "sad_mouth": [
            "{aus} together push the chin up and the lip corners down, the mouth of sadness.",
            "The mouth shows the sad pattern of {aus}.",
        ],
        # Only found with AU25, AU26 or AU27 active: "open mouth" is then measured.
        "surprise_face": [
            "{aus} raise the brows and lids above an open mouth, the surprise pattern.",
            "Raised brows and lids ({aus}) with an open mouth make the surprise pattern.",
        ],
        "surprise_brow": [
            "{aus} raise the brows and lids as in surprise, but the mouth stays closed.",
            "The brows and lids are raised ({aus}) with the lips together: the upper half of a surprise face.",
        ],
        "fear_mouth": [
            "{aus} together stretch the parted lips sideways, as in fear.",
            "The lips are parted and stretched ({aus}), a fear mouth.",
        ],
        "anger_face": [
            "{aus} together give the lowered brows, fixed eyes and tight lips of anger.",
            "The combination {aus} is the core pattern of anger.",
        ],
        "anger_glare": [
            "{aus} together make a glare: lowered brows over tightened lids.",
            "Lowered brows with tightened lids ({aus}) form an angry glare.",
        ],
        "disgust_nose_lip": [
            "The upper lip or nose is drawn up ({aus}), the core movement of disgust.",
            "A raised upper lip or wrinkled nose ({aus}) is typical of disgust.",
        ],
        "unilateral_smile": [
            "{aus} {be} stronger on one side of the face; a one-sided smile or dimple is the signature of contempt.",
            "The mouth movement ({aus}) is one-sided, which is how contempt shows.",
        ],
    },
    "dominant": [
        "By AU evidence alone the face reads as {label} (score {score}, {percent}%), supported by {aus}.",
        "The AU evidence points most to {label} (score {score}, {percent}%), through {aus}.",
        "Taken together, the AUs favour {label} (score {score}, {percent}%), mainly because of {aus}.",
    ],
    "dominant_neutral": [
        "No emotion's AU evidence exceeds the neutral level ({score}), so by AU evidence the face reads as neutral ({percent}%).",
        "The AU evidence stays below the neutral level ({score}) for every emotion, so it reads as neutral ({percent}%).",
    ],
    "secondary": [
        "{label} comes second (score {score}, {percent}%){support}.",
        "The next candidate is {label} (score {score}, {percent}%){support}.",
    ],
    "secondary_support": [", supported by {aus}", " through {aus}"],
    # The conclusion's label when it is neither of the two strongest AU readings.
    "label_support": [
        "{label} itself is supported by {aus}.",
        "For {label}, the supporting evidence is {aus}.",
    ],
    "label_no_support": [
        "None of the active AUs supports {label}.",
        "No active AU speaks for {label}.",
    ],
    "against_opposing": [
        "Against {label}: {aus} {be} active as well.",
        "Speaking against {label}, {aus} {be} also active.",
    ],
    "against_missing": [
        "For {label}, the defining {aus} {be} absent.",
        "{label} lacks its defining {aus}, which {be} absent.",
    ],
    "against_neutral": [
        "Against a neutral reading: {aus} {be} active.",
        "The active {aus} {be} against a neutral face.",
    ],
    "compound": [
        "The active AUs also match the compound expression {names} (Du et al. 2014).",
        "This combination is also consistent with the compound category {names} (Du et al. 2014).",
    ],
    "classifier_agrees": [
        "The image classifier agrees: it gives {label} {percent}%.",
        "The image classifier reaches the same answer, {label} at {percent}%.",
    ],
    # Said once, where the conclusion departs from the AU reading: what each side rests on.
    "classifier_disagrees": [
        "The image classifier, which reads the whole face's appearance rather than these movements, disagrees: it gives {label} {percent}% where the measured AUs give {au_label} {au_percent}%.",
        "Here the AU evidence and the image classifier disagree: the measured movements favour {au_label} ({au_percent}%), the classifier, reading the whole face's appearance, {label} ({percent}%).",
    ],
    # Instruction data: the dataset's label departs from the AU reading.
    "label_disagrees": [
        "The measured AUs alone lean towards {au_label}, so the {label} reading rests on cues they do not capture.",
        "By the measured movements alone the face leans towards {au_label}; {label} must rest on more than they show.",
    ],
    "neutral_despite": [
        "{aus} {be} too weak to carry an emotion on their own.",
        "On their own, {aus} {be} not enough for an emotion.",
    ],
    # Defining AUs the estimator measures too weakly to call absent (graded weak) and not seen here.
    "weakly_measured": [
        "{label}'s defining {aus} {be} not seen, but the estimate is too weak to rule {aus} out.",
        "The estimate does not show {label}'s defining {aus}, though it is too weak to exclude {aus}.",
    ],
    # Defining AUs the estimator cannot measure reliably: never called absent.
    "not_measured": [
        "{label}'s defining {aus} {be} not measured reliably here, so the AUs can neither confirm nor rule it out.",
        "The AUs that define {label} ({aus}) cannot be measured reliably from this face, so they neither confirm nor exclude it.",
    ],
    "no_classifier": [
        "No image classifier ran, so the conclusion rests on the AU evidence alone.",
    ],
    "conclusion": [
        "The expression is {label} ({percent}%).",
        "Final label: {label} ({percent}%).",
        "Overall, the face shows {label} ({percent}%).",
    ],
    # Instruction data: the conclusion is the dataset's label, phrased as a model should answer
    # (no probability: the label is given, not estimated).
    "conclusion_ground_truth": [
        "The expression is {label}.",
        "Overall, the face shows {label}.",
        "Final label: {label}.",
    ],
    "caveats": {
        "weak_evidence": [
            "The evidence is weak: few AUs support this label.",
            "Note that the AU evidence for it is weak.",
        ],
        "low_confidence": [
            "The classifier is not confident ({percent}%).",
            "Its probability is low ({percent}%), so treat it with caution.",
        ],
        "ambiguous": [
            "The AU evidence is ambiguous between the top two readings.",
            "Two readings are nearly tied on AU evidence.",
        ],
        "opposing_aus": [
            "Some active AUs contradict it.",
            "The evidence is contradictory: some active AUs argue against it.",
        ],
        "disagreement": [
            "Caveat: the measured AUs point to {au_label} instead, so the label is uncertain.",
            "This is uncertain: the AU evidence alone points to {au_label}.",
        ],
        "label_differs_from_au": [
            "The measured AUs alone would suggest {au_label}, so they only partly explain it.",
            "The movements measured alone point to {au_label}; they do not fully account for it.",
        ],
    },
    # Instruction-data prompts (ExpLLM's two tasks); "<image>" marks where the image goes.
    "prompt_cot": [
        "<image>\nDescribe the facial expression step by step: the key facial action units, how they combine, and the resulting emotion.",
        "<image>\nAnalyse this face step by step. Which action units are active, what do they indicate together, and which emotion is expressed?",
    ],
    "prompt_label": [
        "<image>\nWhich facial expression does this person show? Answer with one word from: {labels}.",
        "<image>\nClassify the expression of this face as one of: {labels}.",
    ],
}
