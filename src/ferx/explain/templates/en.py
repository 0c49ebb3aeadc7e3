"""English explanation templates (the default language).

Where a list holds several phrasings of the same statement, the explainer picks one with a random
generator seeded from the face's measurements, so the same face always gets the same text. Fields
in braces are filled from measured values only.

Intensity is written as the FACS band word after the AU code, "(AU12, marked)": the faithfulness
validator reads that pattern back, so a template (or an LLM reply) that states another band than
was measured is caught. Each emotion gets one probability in a text: the decision rule's.
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
    "negation_cues": ["absent", "without", "no ", "not ", "missing", "lacks", "none", "neither"],
    "list_and": "and",
    # Verb agreement for "{aus} {be} ...": singular, plural.
    "be": ["is", "are"],
    "list_or": "or",
    # What each AU looks like, as a clause (key observations); a dict gives the clause per band ("*": the others).
    "au_movements": {
        # A slight brow reading (bands A, B) is as much where this face's brows rest as a movement:
        # on the coded lfw photos the brow AUs read A or more on a fifth to a quarter of faces coded
        # without them (docs/aus.md). Said as a position, with `observation_brows_at_rest` once.
        "AU1": {"*": "the inner brows are raised", "A": "the inner brows sit high", "B": "the inner brows sit high"},
        "AU2": {"*": "the outer brows are raised", "A": "the outer brows sit high", "B": "the outer brows sit high"},
        "AU4": {"*": "the brows are lowered and drawn together", "A": "the brows sit low or close together",
                "B": "the brows sit low or close together"},
        "AU5": "the upper lids are raised",
        "AU6": "the cheeks are raised", "AU7": "the lids are tightened", "AU9": "the nose is wrinkled",
        "AU10": "the upper lip is raised", "AU12": "the lip corners are pulled up",
        "AU14": "the lip corners are dimpled", "AU15": "the lip corners are pulled down",
        "AU16": "the lower lip is pulled down", "AU17": "the chin is pushed up", "AU18": "the lips are puckered",
        "AU20": "the lips are stretched sideways", "AU22": "the lips are funnelled", "AU23": "the lips are tightened",
        "AU24": "the lips are pressed together", "AU25": "the lips are parted", "AU26": "the jaw is dropped",
        "AU27": "the jaw is pulled down, stretching the mouth open",
        # FACS 2002 scores eye closure by intensity: lids lowered (drooping, narrowed to a slit) below E,
        # closed at E; "the eyes are closed (AU43, slight)" contradicted itself.
        "AU43": {"*": "the upper lids are lowered", "E": "the eyes are closed"},
    },
    # Each AU as a noun (statements of absence: "there is no cheek raise (AU6)").
    "au_nouns": {
        "AU1": "inner-brow raise", "AU2": "outer-brow raise", "AU4": "brow lowering", "AU5": "upper-lid raise",
        "AU6": "cheek raise", "AU7": "lid tightening", "AU9": "nose wrinkle", "AU10": "upper-lip raise",
        "AU12": "lip-corner pull", "AU14": "dimpling", "AU15": "lip-corner depression",
        "AU16": "lower-lip depression", "AU17": "chin raise", "AU18": "pucker", "AU20": "lip stretch",
        "AU22": "lip funnel", "AU23": "lip tightening", "AU24": "lip press", "AU25": "lip parting",
        "AU26": "jaw drop", "AU27": "mouth stretch", "AU43": "eye closure",
    },
    "observation": "{movement} ({code}, {band_word}){sign}.",
    "observation_sign": [", a sign of {emotions}", ", typical of {emotions}"],
    "observation_one_sided": "It is stronger on one side of the face.",
    # An AU this estimator reads but that was never checked against FACS codes (too few coded occurrences).
    "observation_unchecked": "This reading is not validated on enough FACS-coded faces.",
    "observation_brows_at_rest": "The faint {aus} {reading} may also be where these brows rest.",
    "observation_nose_by_brows": "With the brows this strongly lowered, the {band_word} AU9 reading may also be the "
                                 "brow lowerer's bunching at the root of the nose.",
    "observation_rest": ["Weaker movements: {aus}.", "Also present, weakly: {aus}."],
    "no_observation": [
        "No facial movement reaches the trace level (band A).",
        "None of the measured movements is strong enough to count (band A).",
    ],
    # Said only when the pattern's AUs are present at band B or more, reliably measured, and the
    # pattern bears on the conclusion's label.
    "patterns": {
        "duchenne_smile": [
            "The cheeks rise with the lip corners: a Duchenne smile, the smile of felt enjoyment.",
            "The smile reaches the eyes, as a felt (Duchenne) smile does.",
        ],
        "social_smile": [
            "The lip corners rise but the cheeks do not: a polite rather than a felt smile.",
            "The smile stays in the mouth; the cheeks do not join in, as in a social smile.",
        ],
        "sad_brow": [
            "The inner brows are raised and drawn together, the brow of sadness.",
            "The raised, drawn-together inner brows are a sign of sadness or fear.",
        ],
        "fear_brow": [
            "The whole brow is raised and drawn together, the brow of fear.",
        ],
        "sad_mouth": [
            "The chin is pushed up under down-turned lip corners, the mouth of sadness.",
        ],
        "surprise_face": [
            "{moves_cap} together raise the upper face over an open mouth, the pattern of surprise.",
            "{moves_cap}: the upper face raised with the mouth open, the face of surprise.",
        ],
        "surprise_brow": [
            "{moves_cap} raise the upper face while the mouth stays closed, the upper half of surprise.",
        ],
        "fear_mouth": [
            "The parted lips are stretched sideways, the mouth of fear.",
        ],
        "anger_face": [
            "{moves_cap} together are the pattern of anger.",
            "Together, {moves} make the face of anger.",
        ],
        "anger_glare": [
            "Lowered brows over tightened lids make a glare, typical of anger.",
        ],
        "disgust_nose_lip": [
            "The nose wrinkles or the upper lip rises, the core movement of disgust.",
        ],
        "unilateral_smile": [
            "The mouth movement is one-sided, which is how contempt shows.",
        ],
    },
    # What the measured movements alone point to (no number: the conclusion gives the probability).
    "au_reading": [
        "The movements point to {label}, through {aus}.",
        "Taken together, the movements point to {label} ({aus}).",
    ],
    # The AU evidence names no emotion: with nothing at band B or above the face is at rest; with
    # clear movements it is not "neutral", they just fit no emotion well enough to name one.
    "au_reading_neutral": [
        "The movements are too weak to point to an emotion: on their own they read as neutral.",
        "On their own, the movements read as neutral.",
    ],
    # The AU evidence names an emotion, but no movement reaches band B: said as a lean, not as "point
    # to" (a reviewer read "the movements point to sadness" over four trace readings as overstated).
    "au_reading_faint": [
        "The movements are faint (none beyond a trace), but together they lean towards {label} ({aus}).",
        "Only traces of movement show; together they lean towards {label} ({aus}).",
    ],
    # The AU evidence names an emotion whose own movements are all traces, while other movements are
    # clear: a lean, naming what it rests on.
    "au_reading_trace": [
        "The movements lean only slightly towards {label}, on a trace of {aus}.",
        "On their own, the movements lean only slightly towards {label}, on a trace of {aus}.",
    ],
    # ... or rests only on readings under A (neither claimed nor denied, so never named as movements).
    "au_reading_below_trace": [
        "On their own, the movements lean only slightly towards {label}, on readings below the trace level.",
    ],
    "au_reading_mixed": [
        "Taken alone, the movements fit no single emotion well enough to name one.",
        "On their own, the movements fit no single emotion clearly enough to name one.",
    ],
    # How "au_reading_mixed" names the AU side's neutral reading (for `validate.reasoning_issues`).
    "no_emotion_phrases": ["no single emotion"],
    "classifier_agrees": [
        "The image classifier, which reads the whole face, agrees.",
        "The image classifier reads the same.",
    ],
    # Where the movements name no single emotion and the classifier reads the face as neutral.
    "classifier_neutral": [
        "The image classifier, which reads the whole face, calls it neutral.",
        "The image classifier reads the face as neutral.",
    ],
    # Said once, where the classifier reads another emotion than the movements.
    "classifier_differs": [
        "The image classifier, which reads the whole face's appearance rather than these movements, reads {label} instead.",
        "The image classifier, reading the face's overall appearance, sees {label} instead.",
    ],
    # The decision rule's label is not the classifier's: the movements tipped it (or neither source's
    # top label won on its own).
    "decision_combined": [
        "Weighing the classifier against the movements, {label} is the more likely reading.",
        "Weighed together, the two make {label} the more likely reading.",
    ],
    # Instruction data: the dataset's label departs from the AU reading.
    "label_disagrees": [
        "The label is {label}, so it rests on cues the measured movements do not capture.",
        "The given label, {label}, rests on more than the measured movements show.",
    ],
    "label_support": [
        "For {label}, the evidence is {aus}.",
        "What speaks for {label} is {aus}.",
    ],
    # The conclusion's supporting movements are the very ones the movements' own reading rests on
    # (raised brows and an open mouth, for surprise and for fear): listing them twice, once for each,
    # read to a reviewer as a contradiction; said once, as what it is.
    "label_support_shared": [
        "These movements fit {label} as well as {au_label}: on their own they do not tell the two apart.",
        "The same movements are also signs of {label}, so on their own they do not separate {au_label} from {label}.",
    ],
    "against_opposing": [
        "Against {label}: {aus} {be} present as well.",
        "Speaking against {label}, {aus} {be} also present.",
    ],
    # Only for movements graded reliable and read clearly below the trace level. Said of the readings,
    # not of the face: the sentence concerns the concluded label, so the face most likely shows that
    # emotion, and a reading that misses its movement is likelier there than anywhere (on the coded
    # photos AU12 read confidently low on 4 of 17 clear smiles; docs/explanations.md).
    "against_missing": [
        "The readings show no {movements}, which {label} usually shows.",
    ],
    # Defining AUs the estimator cannot measure reliably: never called absent.
    "not_measured": [
        "{label}'s typical {aus} cannot be measured reliably, so the movements neither confirm nor rule it out.",
    ],
    "runner_up": [
        "The next most likely reading is {label} ({percent}%).",
        "{label} comes second ({percent}%).",
    ],
    "compound": [
        "The movements also fit the compound expression {names} (Du et al. 2014).",
    ],
    "conclusion": [
        "{label} ({percent}%).",
        "The expression is {label} ({percent}%).",
    ],
    # Neither of the top two clearly wins (the decision rule's margin).
    "conclusion_uncertain": [
        "Uncertain between {label} ({percent}%) and {other} ({other_percent}%).",
        # not "nearly as likely": a flagged gap can be up to the margin (0.3), e.g. 63 % against 34 %
        "Most likely {label} ({percent}%), though {other} ({other_percent}%) cannot be ruled out.",
    ],
    # Instruction data: the conclusion is the dataset's label, phrased as a model should answer
    # (no probability: the label is given, not estimated).
    "conclusion_ground_truth": [
        "The expression is {label}.",
        "Overall, the face shows {label}.",
        "Final label: {label}.",
    ],
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
