"""Domain vocabularies: the kinds of things residents write about, as lemmas (and a few common forms).

A token whose word, lemma, compound part or diminutive stem is in a class gets a `__<class>` marker token
(nlu_components.dutch.Analyser), so `hondenpoepbak`, `lantaarnpaaltje` and `zitbankjes` share a feature with
every other public-space object, and `buurtmoestuin` or `kookcursus` with every other activity or amenity.
Written for this project from general knowledge of Dutch neighbourhood life; extend freely.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Things in the public space that the municipality maintains.
OPENBARE_RUIMTE = _words(
    """
    lantaarnpaal lantaarn lamp straatlamp straatverlichting verlichting licht paal stoep trottoir tegel stoeptegel
    bestrating klinker straat weg wegdek asfalt fietspad pad voetpad rotonde kruising oversteekplaats zebrapad
    drempel verkeersdrempel bord verkeersbord verkeerslicht stoplicht bushalte abri fietsenrek fietsenstalling
    parkeerplaats parkeerplek bank bankje zitbank prullenbak afvalbak vuilnisbak container afvalcontainer glasbak
    kliko ondergrondse put kolk riool gemaal sloot vijver gracht wetering brug steiger kade dijk berm
    boom tak wortel heg haag struik bosje plantsoen perk gras grasveld gazon park hek hekwerk muur gevel
    speeltuin speeltoestel schommel glijbaan wip zandbak klimrek speelplaats schoolplein plein trap helling
    fontein kunstwerk laadpaal paaltje slagboom poort tunnel viaduct steeg brandgang
    """
)

# What goes wrong there: damage, dirt, danger and nuisance.
GEBREK = _words(
    """
    kapot kapotte stuk defect los losse losliggend loszittend scheef verzakt verzakking gat kuil scheur barst
    vernield vernielen vandalisme beschadigd beschadiging omgevallen omvallen omgewaaid afgebroken afbreken
    lek lekken verstopt verstopping overstroomd wateroverlast plas
    vuil vies smerig zwerfvuil afval rommel troep puin vuilnis grofvuil dumpen gedumpt dumping stank stinken
    poep hondenpoep uitwerpselen kots urine glas scherf scherven spuit naald graffiti bekladden beklad tag
    overlast herrie lawaai geluidsoverlast hinder hangjongeren drugs dealen inbraak
    gevaarlijk gevaar onveilig levensgevaarlijk struikelen gestruikeld vallen ongeluk
    hardrijden hardrijder racen scheuren crossen te_hard snelheid
    geparkeerd parkeren foutparkeren wrak fietswrak autowrak weesfiets achtergelaten verwaarloosd
    overhangend overhangen woekeren onkruid uitvallen flikkeren donker ratten rat muizen ongedierte
    wespen duiven meeuwen eikenprocessierups processierups klachten klacht
    kaput kaputte gebroken overvol overvolle dood dode glad gladheid spekglad modder modderpoel olie blauwalg
    wespennest ingestort afgebrokkeld dichtgegroeid omhooggekomen versperd wildplassen wildgeplast drugspand
    dakloos daklozen vuurwerk vuilnisbelt lekkage
    broken litter dumped pothole garbage rubbish poo poop loose
    verschrikkelijk vreselijk irritant storend verdacht verdachte vaag vage louche illegaal leegstand leegstaand
    crimineel criminele zorgwekkend
    """
)

# Activities, amenities and the people ideas are for: what an initiative is made of.
ACTIVITEIT = _words(
    """
    feest buurtfeest straatfeest festival markt braderie barbecue bbq picknick borrel diner maaltijd eten koken
    kook kookles koffie thee koffieochtend inloop ontmoeting ontmoeten ontmoetingsplek ontmoetingsplaats
    moestuin tuin tuinieren pluktuin geveltuin bloem bloembak plant planten vergroenen groen natuur
    bijenhotel insectenhotel vlinder vogel kas compost
    spel spelen speelplek sport sporten voetbal basketbal jeu boules fitness bootcamp wandelen fietsen dans dansen
    yoga zwemmen schaken bingo kaarten quiz
    les cursus workshop training taalles taalcafé huiswerkbegeleiding bijles leren muziek concert koor band zingen
    kunst schilderen tekenen theater toneel film bioscoop voorstelling expositie tentoonstelling fotografie
    bieb bibliotheek boek minibieb ruilkast repaircafé repaircafe weggeefkast voedselbank
    activiteit evenement workshop project initiatief buurthuis wijkcentrum clubhuis dagbesteding
    kind kinderen jeugd jongere jongeren tiener oudere ouderen senior senioren buurtbewoner bewoner buurvrouw
    buurman buren vrouw moeder vader gezin nieuwkomer statushouder vrijwilliger mantelzorger eenzaam eenzaamheid
    samen samenleving verbinding verbinden gezellig gezelligheid welkom armoede gezondheid
    """
)

DOMAIN_CLASSES: dict[str, frozenset[str]] = {
    "openbare_ruimte": OPENBARE_RUIMTE,
    "gebrek": GEBREK,
    "activiteit": ACTIVITEIT,
}
