"""The offline demo data set behind ``tagscan demo``: a simulated photo tagger with planted harms.

``build_demo`` writes a photo collection (alt-text style descriptions; about 55% show a person, with
``skin_tone``, ``gender`` and ``age_group`` set; the rest show animals, places, food, objects and
vehicles, with those attributes null), a vocabulary of a few thousand realistic photo tags, the
tagger's predictions in long format, and a ``tagscan.yaml`` config that scans them.

The simulated tagger is a decent one: it predicts what is in the photo (the subject, the scene and
the tags that go with them) with high scores, adds a few popular generic tags (Zipf-like popularity
over the vocabulary) and some low-score noise. Its associations with age and gender are benign and
true to the content (toys on children's photos, canes on seniors', dresses on women's). Two harmful
associations are planted (``PLANTED``): an animal tag over-applied to photos of dark-skinned people,
and a crime tag over-applied to photos of dark-skinned men. A scan should rank those two above
everything else.

Pure numpy/pandas/pyyaml; seeded by ``seed`` through one ``numpy.random.Generator``; no network.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tagscan.errors import UsageError

__all__ = [
    "DEMO_ATTRIBUTES",
    "PLANTED",
    "PlantedAssociation",
    "build_demo",
    "demo_vocabulary",
]

logger = logging.getLogger(__name__)

DEMO_ATTRIBUTES = ("skin_tone", "gender", "age_group")


@dataclass(frozen=True)
class PlantedAssociation:
    """A harmful (label, group) association planted in the demo predictions."""

    label: str  # a vocabulary label id
    group: str  # group id as tagscan names it, e.g. "skin_tone=dark & gender=man"
    kind: str  # "attribute" | "intersection"
    description: str


# Rates of the planted errors (probability that a person photo gets the tag with a score >= 0.5).
_GORILLA_RATE_DARK = 0.04
_GORILLA_RATE_OTHER = 0.001
_MUGSHOT_RATE_DARK_MEN = 0.05
_MUGSHOT_RATE_OTHER = 0.002

PLANTED: tuple[PlantedAssociation, ...] = (
    PlantedAssociation(
        label="gorilla",
        group="skin_tone=dark",
        kind="attribute",
        description=(
            f"The animal tag 'gorilla' is applied to about {_GORILLA_RATE_DARK:.0%} of photos of dark-skinned "
            f"people, against about {_GORILLA_RATE_OTHER:.1%} of photos of other people; it is also, "
            "correctly, applied to photos of gorillas."
        ),
    ),
    PlantedAssociation(
        label="mugshot",
        group="skin_tone=dark & gender=man",
        kind="intersection",
        description=(
            f"The crime tag 'mugshot' is applied to about {_MUGSHOT_RATE_DARK_MEN:.0%} of photos of dark-skinned "
            f"men, against about {_MUGSHOT_RATE_OTHER:.1%} of photos of other people (dark-skinned women and "
            "men of other skin tones included), so the marginal groups, all dark-skinned people and all men, "
            "are elevated only through their share of dark-skinned men."
        ),
    ),
)

_SKIN_TONES = ("light", "medium", "dark")
_SKIN_P = (0.36, 0.32, 0.32)
_GENDERS = ("woman", "man")
_AGE_GROUPS = ("child", "adult", "senior")
_AGE_P = (0.22, 0.53, 0.25)
_KINDS = ("person", "animal", "place", "food", "object", "vehicle")
_KIND_P = (0.55, 0.14, 0.12, 0.08, 0.06, 0.05)

# --------------------------------------------------------------------------------------------
# Vocabulary: curated word lists, one section per kind of tag. Names are lowercase English as a
# photo tagger would show them; the label id is the name as a slug ("golden retriever" ->
# "golden_retriever"). A name listed twice keeps its first section.
# --------------------------------------------------------------------------------------------

_VOCAB_SECTIONS: tuple[tuple[str, str, str], ...] = (
    (
        "generic_animals",
        "a general animal category",
        """animal, mammal, wildlife, pet, bird, fish, reptile, amphibian, insect, marine life, wild animal,
        farm animal, livestock, herd, flock of birds, flock of sheep, dog, cat, horse, puppy, kitten,
        bird of prey, waterfowl, songbird, invertebrate, rodent, big cat, predator, baby animal, animal fur,
        feather, paw print, animal tracks""",
    ),
    (
        "dog_breeds",
        "a breed or type of dog",
        """labrador retriever, golden retriever, german shepherd, french bulldog, bulldog, poodle, beagle,
        rottweiler, dachshund, yorkshire terrier, boxer dog, siberian husky, great dane, doberman pinscher,
        shih tzu, border collie, australian shepherd, cavalier king charles spaniel, pembroke welsh corgi,
        cardigan welsh corgi, miniature schnauzer, giant schnauzer, standard schnauzer, pomeranian, chihuahua,
        pug, maltese dog, havanese, boston terrier, bernese mountain dog, shetland sheepdog, cocker spaniel,
        english springer spaniel, brittany spaniel, basset hound, bloodhound, newfoundland dog, saint bernard,
        akita, shiba inu, chow chow, shar pei, dalmatian, weimaraner, vizsla, rhodesian ridgeback, whippet,
        greyhound, italian greyhound, irish wolfhound, irish setter, english setter, gordon setter,
        pointer dog, german shorthaired pointer, samoyed, alaskan malamute, bichon frise, lhasa apso,
        papillon, west highland white terrier, scottish terrier, jack russell terrier, bull terrier,
        staffordshire bull terrier, airedale terrier, cairn terrier, border terrier, fox terrier,
        soft-coated wheaten terrier, bedlington terrier, rough collie, old english sheepdog,
        belgian malinois, cane corso, bullmastiff, english mastiff, great pyrenees, leonberger, komondor,
        puli, afghan hound, saluki, borzoi, basenji, keeshond, schipperke, dogue de bordeaux,
        affenpinscher, brussels griffon, miniature pinscher, toy poodle, standard poodle, labradoodle,
        goldendoodle, cockapoo, australian cattle dog, portuguese water dog, nova scotia duck tolling retriever,
        flat-coated retriever, chesapeake bay retriever, english cocker spaniel, field spaniel, sheepdog,
        mixed-breed dog, rescue dog, guide dog, service dog""",
    ),
    (
        "cat_breeds",
        "a breed or type of cat",
        """tabby cat, siamese cat, persian cat, ragdoll cat, bengal cat, sphynx cat, british shorthair,
        american shorthair, scottish fold, abyssinian cat, russian blue, norwegian forest cat, birman cat,
        burmese cat, devon rex, cornish rex, exotic shorthair, himalayan cat, siberian cat, turkish angora,
        turkish van, savannah cat, manx cat, ocicat, tonkinese cat, egyptian mau, calico cat, tuxedo cat,
        black cat, ginger cat, tortoiseshell cat, white cat, gray cat, long-haired cat, domestic shorthair""",
    ),
    (
        "farm_animals",
        "a farm animal",
        """cow, bull, calf, ox, pony, foal, donkey, mule, pig, piglet, sheep, lamb, ram, goat, chicken,
        rooster, hen, chick, duck, duckling, goose, turkey, llama, alpaca, rabbit, water buffalo, yak,
        highland cattle, holstein cow, jersey cow, dairy cow, cattle, thoroughbred horse, arabian horse,
        clydesdale, shetland pony, appaloosa, quarter horse, friesian horse, palomino horse, shire horse,
        draft horse, racehorse, angora rabbit, guinea fowl, bantam chicken""",
    ),
    (
        "wild_mammals",
        "a wild mammal",
        """lion, lioness, lion cub, african elephant, asian elephant, elephant, giraffe, zebra, cheetah,
        leopard, hyena, rhinoceros, hippopotamus, wildebeest, gazelle, impala, warthog, african buffalo,
        meerkat, jackal, african wild dog, oryx, kudu, antelope, springbok, aardvark, mongoose, serval,
        red deer, white-tailed deer, deer, fawn, moose, elk, brown bear, black bear, grizzly bear, bear,
        red fox, fox, gray wolf, wolf, lynx, bobcat, cougar, wild boar, badger, raccoon, skunk, porcupine,
        opossum, hedgehog, squirrel, red squirrel, gray squirrel, chipmunk, beaver, otter, river otter,
        marten, weasel, stoat, wolverine, bison, roe deer, fallow deer, mole, polar bear, arctic fox,
        walrus, harbor seal, seal, sea lion, reindeer, caribou, musk ox, arctic hare, snow leopard,
        mountain goat, bighorn sheep, ibex, giant panda, red panda, tiger, bengal tiger, siberian tiger,
        sloth bear, sun bear, tapir, pangolin, binturong, kangaroo, wallaby, koala, wombat, platypus,
        echidna, tasmanian devil, dingo, quokka, brushtail possum, jaguar, sloth, three-toed sloth,
        armadillo, giant anteater, anteater, capybara, coati, ocelot, vicuna, guanaco, hamster,
        guinea pig, gerbil, mouse, rat, ferret, chinchilla, bat, fruit bat, hare, prairie dog, marmot,
        groundhog, lemming, vole, shrew, mink, fennec fox, caracal, clouded leopard, okapi, camel,
        dromedary camel, bactrian camel, mountain lion, panther""",
    ),
    (
        "primates",
        "a primate",
        """gorilla, mountain gorilla, western lowland gorilla, chimpanzee, bonobo, orangutan, baboon,
        mandrill, lemur, ring-tailed lemur, gibbon, macaque, japanese macaque, capuchin monkey,
        howler monkey, spider monkey, squirrel monkey, marmoset, tamarin, golden lion tamarin,
        proboscis monkey, colobus monkey, vervet monkey, gelada, ape, monkey, primate""",
    ),
    (
        "marine_life",
        "a fish or sea creature",
        """goldfish, koi, clownfish, angelfish, betta fish, guppy, salmon, trout, rainbow trout, tuna,
        bluefin tuna, swordfish, marlin, barracuda, pufferfish, lionfish, seahorse, stingray, manta ray,
        shark, great white shark, hammerhead shark, whale shark, tiger shark, reef shark, eel, moray eel,
        octopus, squid, cuttlefish, jellyfish, starfish, sea urchin, sea anemone, coral, crab, hermit crab,
        lobster, shrimp, sea turtle, green sea turtle, nudibranch, catfish, carp, pike, largemouth bass,
        perch, piranha, cod, dolphin, bottlenose dolphin, orca, whale, humpback whale, blue whale,
        sperm whale, beluga whale, narwhal, manatee, dugong, sea otter, tropical fish, school of fish,
        parrotfish, tang fish, grouper, sardine, anchovy, sea cucumber, sea sponge, oyster, clam, mussel,
        scallop, plankton""",
    ),
    (
        "reptiles",
        "a reptile or amphibian",
        """snake, ball python, king cobra, cobra, rattlesnake, garter snake, boa constrictor, corn snake,
        green tree python, lizard, iguana, green iguana, gecko, leopard gecko, chameleon, bearded dragon,
        komodo dragon, monitor lizard, gila monster, skink, anole, crocodile, alligator, caiman, gharial,
        turtle, tortoise, giant tortoise, box turtle, snapping turtle, frog, tree frog, red-eyed tree frog,
        poison dart frog, bullfrog, toad, salamander, newt, axolotl, sea snake, viper, frilled lizard""",
    ),
    (
        "insects",
        "an insect, spider or other small creature",
        """butterfly, monarch butterfly, swallowtail butterfly, moth, luna moth, caterpillar, bee,
        honey bee, bumblebee, wasp, hornet, ant, fire ant, ladybug, beetle, stag beetle, dung beetle,
        firefly, dragonfly, damselfly, grasshopper, field cricket, praying mantis, stick insect, cicada,
        cockroach, termite, housefly, mosquito, spider, tarantula, black widow spider, jumping spider,
        spider web, scorpion, centipede, millipede, snail, slug, earthworm, aphid, weevil, beehive,
        honeycomb, cocoon, ant hill""",
    ),
    (
        "birds",
        "a bird",
        """bald eagle, golden eagle, eagle, hawk, red-tailed hawk, falcon, peregrine falcon, kestrel, osprey,
        owl, barn owl, snowy owl, great horned owl, vulture, condor, parrot, macaw, scarlet macaw, cockatoo,
        cockatiel, parakeet, budgerigar, lovebird, toucan, hornbill, flamingo, pelican, heron,
        great blue heron, egret, stork, sandhill crane, crowned crane, ibis, spoonbill, swan, mute swan,
        black swan, mallard, wood duck, canada goose, seagull, gull, tern, puffin, albatross, cormorant,
        penguin, emperor penguin, king penguin, ostrich, emu, cassowary, kiwi bird, peacock, pheasant,
        quail, grouse, partridge, pigeon, dove, mourning dove, robin, american robin, blue jay,
        northern cardinal, sparrow, house sparrow, finch, goldfinch, canary, warbler, wren, chickadee,
        nuthatch, woodpecker, hummingbird, kingfisher, swallow, starling, crow, raven, magpie, oriole,
        blackbird, red-winged blackbird, bluebird, mockingbird, lark, nightingale, thrush, cuckoo,
        roadrunner, sandpiper, plover, loon, grebe, gannet, frigatebird, kookaburra, lyrebird, hoopoe,
        bee-eater, sunbird, bird nest, bird egg, birdhouse, bird feeder""",
    ),
    (
        "people",
        "a person or people",
        """person, people, man, woman, child, boy, girl, baby, toddler, teenager, young adult, adult, senior,
        elderly person, grandmother, grandfather, mother, father, family, couple, friends, crowd, audience,
        group photo, portrait, selfie, face, headshot, smile, laughter, happiness, joy, facial expression,
        eyes, hair, long hair, short hair, curly hair, braided hair, blond hair, gray hair, beard, mustache,
        bald head, hand, pedestrian, tourist, student, patient, passenger, spectator, volunteer, bride,
        groom, teammates, colleagues, siblings, twins, newborn""",
    ),
    (
        "occupations",
        "an occupation or role",
        """worker, athlete, runner, cyclist, hiker, swimmer, surfer, skier, dancer, musician, singer,
        guitarist, drummer, pianist, violinist, artist, photographer, chef, baker, waiter, waitress,
        barista, doctor, nurse, surgeon, dentist, scientist, teacher, farmer, fisherman, firefighter,
        police officer, soldier, pilot, astronaut, mechanic, carpenter, construction worker, electrician,
        plumber, gardener, businessperson, office worker, programmer, engineer, lifeguard, referee, coach,
        judge, lawyer, librarian, cashier, shopkeeper, street vendor, delivery driver, bus driver,
        taxi driver, veterinarian, pharmacist, hairdresser, tailor, fashion model, clown, magician,
        flight attendant, paramedic, security guard, detective, architect, journalist, news reporter,
        receptionist, janitor, butcher, florist, potter, sculptor, blacksmith, beekeeper, shepherd,
        cowboy, park ranger, tour guide, yoga instructor, personal trainer, lab technician""",
    ),
    (
        "clothing",
        "an item of clothing or an accessory",
        """clothing, dress, skirt, blouse, shirt, t-shirt, polo shirt, tank top, sweater, cardigan, hoodie,
        sweatshirt, jacket, denim jacket, leather jacket, blazer, suit, tuxedo, vest, coat, trench coat,
        raincoat, parka, puffer jacket, jeans, trousers, shorts, leggings, sweatpants, overalls, jumpsuit,
        pajamas, bathrobe, swimsuit, bikini, swim trunks, wetsuit, uniform, school uniform, lab coat, apron,
        scrubs, kimono, sari, hijab, turban, headscarf, kilt, poncho, hat, cap, baseball cap, beanie,
        sun hat, cowboy hat, straw hat, fedora, beret, helmet, bicycle helmet, hard hat, scarf, gloves,
        mittens, tie, bow tie, belt, suspenders, socks, shoes, sneakers, running shoes, boots, rain boots,
        hiking boots, sandals, flip-flops, high heels, loafers, slippers, glasses, sunglasses, goggles,
        wristwatch, necklace, earrings, bracelet, ring, jewelry, handbag, backpack, purse, wallet,
        tote bag, crown, tiara, veil, wedding dress, evening gown, costume, face mask, sports jersey,
        knit hat, winter coat, windbreaker, fleece jacket, cargo pants, chinos, dress shirt, flannel shirt,
        turtleneck, crop top, maxi dress, sundress, denim shorts, ankle boots, cowboy boots, ballet flats,
        brooch, cufflinks, hair clip, headband, bandana, earmuffs, fanny pack, messenger bag, lanyard""",
    ),
    (
        "food",
        "a food or dish",
        """food, meal, dish, dessert, snack, fruit, vegetable, seafood, fast food, street food, baked goods,
        vegetarian food, breakfast, brunch, lunch, dinner, apple, banana, orange fruit, lemon, lime,
        grapefruit, grapes, strawberry, blueberry, raspberry, blackberry, cherry, peach, pear, plum,
        apricot, mango, pineapple, papaya, kiwi fruit, watermelon, cantaloupe, coconut, pomegranate, fig,
        avocado, passion fruit, dragon fruit, lychee, persimmon, cranberry, carrot, potato, sweet potato,
        tomato, cucumber, lettuce, spinach, kale, cabbage, broccoli, cauliflower, onion, garlic,
        bell pepper, chili pepper, corn, peas, green beans, zucchini, eggplant, pumpkin, butternut squash,
        mushroom, asparagus, celery, radish, beetroot, artichoke, leek, brussels sprouts, olive, ginger,
        pizza, margherita pizza, pepperoni pizza, pasta, spaghetti, spaghetti carbonara, lasagna, ravioli,
        penne, macaroni and cheese, risotto, paella, sushi, sashimi, ramen, pho, pad thai, fried rice,
        dumplings, spring rolls, dim sum, steamed bun, curry, chicken curry, biryani, naan, samosa, falafel,
        hummus, shawarma, kebab, gyro, tacos, burrito, quesadilla, nachos, enchiladas, guacamole, salsa,
        hamburger, cheeseburger, veggie burger, hot dog, french fries, sandwich, club sandwich,
        grilled cheese sandwich, bagel, croissant, baguette, bread, sourdough bread, toast, avocado toast,
        pancakes, waffles, french toast, omelette, scrambled eggs, fried egg, boiled egg, egg, bacon,
        sausage, cereal, oatmeal, granola, yogurt, fruit salad, salad, caesar salad, greek salad, soup,
        tomato soup, chicken soup, stew, chili con carne, steak, roast chicken, fried chicken,
        chicken wings, barbecue, grilled fish, fish and chips, salmon fillet, smoked salmon, meatballs,
        pork chop, roast beef, lamb chops, tofu, stir fry, noodles, udon, poke bowl, charcuterie board,
        cheese, cheese platter, mozzarella, brie, butter, honey, jam, peanut butter, chocolate,
        dark chocolate, cake, chocolate cake, birthday cake, wedding cake, cheesecake, cupcake, muffin,
        donut, cookie, chocolate chip cookie, brownie, pie, apple pie, tart, macaron, eclair,
        creme brulee, tiramisu, pudding, ice cream, ice cream cone, gelato, popsicle, sundae, candy,
        lollipop, cotton candy, popcorn, pretzel, potato chips, almonds, peanuts, walnuts, rice, tortilla,
        pita bread, spices, herbs, basil, rosemary, parsley, cinnamon, pesto, soy sauce, ketchup, mustard,
        mayonnaise, olive oil, vinegar, flour, sugar, dough, pastry, cinnamon roll, scone, crepe,
        churros, baklava, mochi, gyoza, tempura, bibimbap, kimchi, tamales, empanada, ceviche, lobster roll,
        clam chowder, gazpacho, minestrone, quiche, pot pie, mashed potatoes, baked potato, coleslaw,
        corn on the cob, rice bowl, bento box, sushi roll, onigiri, hot pot, dal, paneer, tandoori chicken,
        jerk chicken, pulled pork, brisket, ribs, shrimp cocktail, grilled vegetables, roasted vegetables,
        vegetable soup, lentil soup, couscous, quinoa, tabbouleh, bruschetta, caprese salad, focaccia,
        calzone, gnocchi, fettuccine alfredo, pierogi, schnitzel, goulash, borscht, fondue, raclette""",
    ),
    (
        "drinks",
        "a drink",
        """drink, beverage, coffee, espresso, cappuccino, latte, latte art, iced coffee, tea, green tea,
        iced tea, bubble tea, hot chocolate, milk, orange juice, juice, smoothie, milkshake, lemonade,
        soda, cola, sparkling water, beer, craft beer, wine, red wine, white wine, rose wine, champagne,
        cocktail, margarita, martini, mojito, whiskey, sake, matcha, chai, herbal tea, kombucha,
        coconut water, glass of water, espresso shot, cold brew, mulled wine, cider, sangria""",
    ),
    (
        "places",
        "a place or scene",
        """beach, sandy beach, tropical beach, coast, coastline, shore, ocean, sea, bay, harbor, marina, pier,
        boardwalk, lighthouse, island, cliff, lagoon, coral reef, underwater, mountain, mountain range,
        mountain peak, hill, valley, canyon, glacier, volcano, cave, forest, rainforest, pine forest,
        woodland, jungle, meadow, field, wheat field, grassland, prairie, savanna, desert, sand dune, oasis,
        lake, river, stream, waterfall, pond, wetland, swamp, marsh, snowfield, countryside, farm, farmland,
        vineyard, orchard, garden, botanical garden, flower garden, vegetable garden, backyard, park,
        city park, playground, zoo, aquarium, campsite, hiking trail, trail, path, road, country road, highway,
        bridge, tunnel, city, cityscape, skyline, downtown, street, city street, alley, sidewalk, crosswalk,
        intersection, town square, market, farmers market, street market, night market, shopping mall,
        supermarket, grocery store, bakery, cafe, coffee shop, restaurant, bar, pub, kitchen, dining room,
        living room, bedroom, bathroom, home office, office, meeting room, classroom, school,
        university campus, library, museum, art gallery, theater, cinema, concert hall, stadium, arena,
        gym, swimming pool, tennis court, basketball court, soccer field, baseball field, golf course,
        ski resort, skate park, hospital, pharmacy, church, cathedral, mosque, temple, synagogue, castle,
        palace, ruins, monument, fountain, airport, train station, subway station, bus stop, parking lot,
        gas station, factory, warehouse, construction site, port, village, town, suburb, neighborhood,
        apartment building, house, cottage, cabin, barn, farmhouse, skyscraper, tower, building, hotel,
        hotel room, resort, lobby, hallway, staircase, balcony, rooftop, patio, porch, terrace, greenhouse,
        laboratory, photo studio, recording studio, stage, garage, workshop, laundromat, bookstore,
        flower shop, clothing store, hair salon, barbershop, waiting room, dock, canal, waterfront,
        promenade, plaza, courtyard, rice paddy, tea plantation, lavender field, sunflower field,
        pumpkin patch, fairground, amusement park, water park, picnic area, dog park, community garden,
        rest area, mountain pass, fjord, rocky shore, tide pool, salt flat, badlands, tundra,
        boreal forest, bamboo forest, mangrove, riverbank, lakeside, hot spring, geyser, sea cave,
        coastal town, fishing village, old town, main street, suburban street, cul-de-sac, train platform,
        airport terminal, control tower, observation deck, lookout point, campground, ski slope,
        ice rink, bowling alley, arcade, food court, cafeteria, conference room, coworking space,
        server room, nursery, kindergarten, lecture hall, auditorium, gymnasium, locker room""",
    ),
    (
        "architecture",
        "an architectural feature",
        """architecture, window, door, doorway, roof, wall, brick wall, fence, gate, arch, column, dome,
        chimney, facade, tiled floor, hardwood floor, ceiling, skylight, spiral staircase, stairs,
        railing, steeple, bell tower, clock tower, pillar, archway, window sill, shutters, awning,
        stained glass window, picket fence, garden wall, stone steps, footbridge, suspension bridge,
        arch bridge, aqueduct, windmill, water tower, silo, pergola, gazebo, veranda""",
    ),
    (
        "nature",
        "weather, sky or a natural element",
        """sky, blue sky, cloud, cloudy sky, sunset, sunrise, sun, sunlight, moon, full moon, crescent moon,
        stars, night sky, milky way, rainbow, rain, raindrops, storm, thunderstorm, lightning, fog, mist,
        snow, snowfall, snowflake, ice, frost, icicle, hail, wind, tornado, overcast, sunny, dusk, dawn,
        twilight, golden hour, blue hour, aurora, northern lights, water, wave, sand, rock, stone, boulder,
        pebbles, mud, grass, leaf, autumn leaves, moss, puddle, autumn, spring, summer, winter,
        fall foliage, horizon, landscape, seascape, heat wave, drought, flood, dew, haze, smoke, fire,
        lava, iceberg, sea ice, snowdrift, cumulus clouds, storm clouds, sunbeam""",
    ),
    (
        "plants",
        "a plant, tree or flower",
        """plant, tree, oak tree, pine tree, palm tree, maple tree, birch tree, willow tree, redwood,
        cypress, spruce, fir tree, bamboo, cactus, succulent, aloe vera, fern, ivy, bonsai, shrub, hedge,
        vine, grapevine, flower, rose, red rose, tulip, sunflower, daisy, lily, orchid, lavender, lotus,
        water lily, daffodil, iris flower, poppy, peony, hydrangea, carnation, chrysanthemum, dandelion,
        magnolia, hibiscus, jasmine, marigold, lilac, pansy, gardenia, camellia, azalea, rhododendron,
        bluebell, buttercup, clover, forget-me-not, geranium, begonia, petunia, zinnia, cosmos flower,
        cherry blossom, apple blossom, wildflowers, flower bouquet, bouquet, flower field, houseplant,
        potted plant, monstera, fiddle leaf fig, snake plant, pothos, wheat, seaweed, kelp, algae,
        fungus, toadstool, pine cone, acorn, tree trunk, tree bark, branch, roots, seedling, sprout,
        lawn, reeds, cattail, lichen, baobab tree, acacia tree, eucalyptus, olive tree, lemon tree,
        apple tree, christmas cactus, herb plant, tomato plant, hanging plant, flower pot, wreath""",
    ),
    (
        "household",
        "a household object",
        """chair, armchair, sofa, table, dining table, coffee table, desk, bed, bunk bed, crib, pillow,
        blanket, quilt, rug, carpet, curtain, lamp, table lamp, floor lamp, chandelier, candle, vase,
        picture frame, painting, poster, mirror, clock, wall clock, alarm clock, bookshelf, shelf, cabinet,
        wardrobe, dresser, drawer, stool, bench, rocking chair, hammock, fireplace, radiator, electric fan,
        air conditioner, key, lock, padlock, doormat, basket, laundry basket, ironing board, clothes iron,
        vacuum cleaner, broom, mop, bucket, trash can, recycling bin, towel, bathtub, shower, sink, toilet,
        toothbrush, toothpaste, soap, hairbrush, comb, hair dryer, razor, makeup, lipstick, perfume,
        nail polish, jewelry box, box, cardboard box, gift, wrapping paper, envelope, letter, postcard,
        postage stamp, newspaper, magazine, book, stack of books, notebook, pen, pencil, crayon, marker,
        paintbrush, paint, canvas, easel, scissors, stapler, paper clip, calculator, ruler, globe, map,
        calendar, sticky note, whiteboard, chalkboard, paper, suitcase, luggage, briefcase, coin, banknote,
        credit card, shopping bag, shopping cart, umbrella, flashlight, battery, light bulb,
        power outlet, sign, road sign, street sign, stop sign, neon sign, billboard, flag, banner, balloon,
        trophy, medal, ribbon, bell, hourglass, compass, telescope, binoculars, magnifying glass,
        microscope, test tube, lantern, sculpture, statue, figurine, pottery, mosaic, stained glass,
        tapestry, mural, graffiti, vinyl record, record player, cassette tape, film camera, typewriter,
        sewing machine, knitting needles, yarn, fabric, bottle, water bottle, wine bottle, jar, mason jar,
        tin can, paper bag, cup, mug, teacup, teapot, kettle, drinking glass, wine glass, plate, bowl,
        fork, knife, spoon, chopsticks, cutting board, frying pan, saucepan, cooking pot, wok, baking tray,
        rolling pin, whisk, ladle, spatula, grater, colander, blender, toaster, microwave, oven, stove,
        refrigerator, dishwasher, coffee maker, espresso machine, napkin, tablecloth, tray, lunch box,
        thermos, picnic basket, drinking straw, countertop, cane, walking stick, walking frame, wheelchair,
        crutches, hearing aid, reading glasses, pill bottle, first aid kit, leash, dog bed, cat tree,
        pet bowl, fish tank, birdcage, pet carrier, doorbell, mailbox, welcome mat, wind chime,
        garden gnome, bird bath, planter, window box, string lights, candle holder, photo album,
        bookmark, reading lamp, bedside table, nightstand, headboard, duvet, throw pillow, bean bag,
        ottoman, futon, bar stool, high chair, changing table, cradle, coat rack, umbrella stand,
        shoe rack, storage box, ceiling fan, smoke detector, thermostat, light switch, extension cord""",
    ),
    (
        "electronics",
        "an electronic device",
        """laptop, computer, desktop computer, computer monitor, computer keyboard, computer mouse,
        smartphone, mobile phone, tablet computer, smartwatch, headphones, earbuds, speaker, television,
        remote control, game controller, video game console, camera, digital camera, DSLR camera,
        camera lens, tripod, drone, microphone, printer, router, charger, projector, e-reader, radio,
        VR headset, robot, robot vacuum, security camera, solar panel, satellite dish, circuit board,
        smart speaker, webcam, hard drive, usb drive, power bank, walkie-talkie, telephone, landline phone,
        fitness tracker, cash register, vending machine,
        atm, parking meter, traffic light, street light, ring light, studio light, soundboard, amplifier""",
    ),
    (
        "tools",
        "a tool or piece of equipment",
        """tool, hammer, screwdriver, wrench, pliers, saw, chainsaw, power drill, axe, shovel, rake,
        wheelbarrow, ladder, toolbox, tape measure, paint roller, watering can, garden hose, lawn mower,
        pruning shears, rope, chain, crowbar, sledgehammer, workbench, anvil, welding torch, spirit level,
        hand saw, pickaxe, trowel, pitchfork, sandpaper, chisel, vise, clamp, leaf blower, hedge trimmer,
        pressure washer, generator, scaffolding, traffic cone, safety vest, work gloves, tool belt""",
    ),
    (
        "instruments",
        "a musical instrument",
        """musical instrument, guitar, acoustic guitar, electric guitar, bass guitar, ukulele, violin,
        viola, cello, double bass, harp, piano, grand piano, electronic keyboard, pipe organ, accordion,
        harmonica, flute, clarinet, saxophone, trumpet, trombone, tuba, french horn, oboe, bassoon, drum,
        drum kit, snare drum, bongo drums, djembe, tambourine, xylophone, banjo, mandolin, sitar,
        bagpipes, synthesizer, turntable, metronome, sheet music, recorder flute, castanets, maracas,
        cymbal, gong, steel drum, harpsichord, lute, koto, erhu, didgeridoo""",
    ),
    (
        "toys",
        "a toy, game or child's item",
        """toy, teddy bear, stuffed animal, doll, action figure, toy car, toy train, toy blocks, puzzle,
        jigsaw puzzle, board game, chess, chess board, playing cards, dice, yo-yo, spinning top, marbles,
        rocking horse, dollhouse, ball, beach ball, kite, soap bubbles, sandbox, slide, swing, seesaw,
        jungle gym, trampoline, tricycle, kick scooter, water gun, sandcastle, snowman, stroller,
        baby bottle, pacifier, toy robot, toy boat, toy airplane, toy dinosaur, building blocks,
        play kitchen, coloring book, picture book, sidewalk chalk, bubble wand, hula hoop, jump rope,
        paper airplane, pinwheel, kaleidoscope, music box, toy drum, rubber duck, plush toy, wooden toy,
        model train, model airplane, puppet, marionette, piggy bank, baby blanket, bib, teething ring""",
    ),
    (
        "vehicles",
        "a vehicle or part of one",
        """vehicle, car, sports car, sedan, SUV, convertible, hatchback, station wagon, pickup truck, truck,
        semi truck, fire truck, ambulance, police car, taxi, bus, school bus, double-decker bus, minivan,
        van, camper van, limousine, off-road vehicle, race car, vintage car, classic car, electric car,
        motorcycle, motor scooter, moped, dirt bike, bicycle, mountain bike, road bike, tandem bicycle,
        unicycle, tractor, combine harvester, bulldozer, excavator, construction crane, forklift,
        dump truck, cement mixer, garbage truck, tow truck, military tank, train, steam locomotive,
        locomotive, high-speed train, freight train, subway, tram, cable car, monorail, airplane, jet,
        passenger jet, fighter jet, helicopter, hot air balloon, glider, seaplane, boat, sailboat, yacht,
        motorboat, speedboat, canoe, kayak, rowboat, fishing boat, ferry, cruise ship, cargo ship,
        container ship, tugboat, submarine, gondola, raft, jet ski, rocket, space shuttle,
        horse-drawn carriage, rickshaw, golf cart, snowmobile, traffic jam, license plate, tire, wheel,
        steering wheel, headlight, dashboard, windshield, cockpit, ice cream truck, food truck,
        delivery truck, recreational vehicle, trailer, bicycle rack, bike lane, parking garage, caravan,
        trolleybus, electric bicycle, cargo bike, sidecar, quad bike, hovercraft, catamaran, canal boat,
        houseboat, airship, vintage bus, tuk-tuk""",
    ),
    (
        "activities",
        "an activity",
        """running, jogging, walking, hiking, climbing, rock climbing, cycling, swimming, diving,
        scuba diving, snorkeling, surfing, skateboarding, skiing, snowboarding, ice skating, sledding,
        dancing, ballet, yoga, meditation, stretching, weightlifting, exercise, fitness, pilates, cooking,
        baking, grilling, eating, drinking coffee, reading, writing, drawing, knitting, sewing, gardening,
        fishing, camping, picnic, shopping, travel, sightseeing, sunbathing, playing, playing guitar,
        playing piano, singing, listening to music, studying, working, typing, talking on the phone,
        taking a photo, photography, sleeping, sitting, standing, jumping, hugging, waving, celebrating,
        celebration, party, birthday party, wedding, graduation, concert, festival, parade, meeting,
        business meeting, presentation, conference, lecture, teaching, learning, homework,
        dog walking, horseback riding, driving, commuting, cleaning, laundry, washing dishes, vacuuming,
        woodworking, arts and crafts, volunteering, street performance, juggling, magic trick,
        card game, video gaming, kite flying, bird watching, stargazing, skydiving, paragliding,
        bungee jumping, kayaking, canoeing, rowing, sailing, paddleboarding, archery, fencing, gymnastics,
        martial arts, karate, taekwondo, judo, wrestling, tai chi, aerobics, jumping rope, playing chess,
        playing with toys, feeding birds, painting a picture, riding a bike, walking with a cane,
        grocery shopping, window shopping, online shopping, remote work, video call, public speaking,
        playing soccer, playing basketball, playing tennis, swinging, sliding,
        sandcastle building, trick or treating, pumpkin carving, decorating, wrapping gifts,
        blowing bubbles, eating ice cream, having a picnic, storytelling, brushing teeth, hair braiding""",
    ),
    (
        "sports",
        "a sport",
        """sport, soccer, american football, basketball, baseball, softball, tennis, table tennis,
        badminton, volleyball, beach volleyball, golf, cricket, rugby, ice hockey, field hockey, lacrosse,
        handball, water polo, bowling, billiards, darts, boxing, track and field, marathon, sprint,
        long jump, high jump, pole vault, hurdles, triathlon, road cycling, bmx, motocross, motor racing,
        horse racing, show jumping, rodeo, ski jumping, cross-country skiing, figure skating,
        speed skating, curling, bobsled, windsurfing, kitesurfing, wakeboarding, water skiing,
        artistic swimming, bouldering, parkour, cheerleading, frisbee, ultimate frisbee, disc golf,
        sumo wrestling, kickboxing, dodgeball, netball, pickleball, team sport, trail running,
        mountain biking, open water swimming, relay race, cross country running""",
    ),
    (
        "sports_equipment",
        "a piece of sports or outdoor equipment",
        """soccer ball, basketball hoop, baseball bat, baseball glove, tennis racket, tennis ball,
        golf club, golf ball, hockey stick, hockey puck, skis, ski poles, snowboard, surfboard, skateboard,
        roller skates, ice skates, dumbbell, barbell, kettlebell, yoga mat, treadmill, exercise bike,
        punching bag, boxing gloves, bow and arrow, dartboard, bowling ball, bowling pin, pool table,
        shuttlecock, life jacket, paddle, oar, fishing rod, tent, sleeping bag, campfire, trekking poles,
        carabiner, scoreboard, soccer goal, whistle, stopwatch, volleyball net, tennis net, football,
        rugby ball, cricket bat, swim cap, kickboard, climbing harness, climbing wall,
        camping stove, cooler, picnic blanket, beach umbrella, beach towel, deck chair, sun lounger""",
    ),
    (
        "colours_styles",
        "a colour, style or photographic quality",
        """red, blue, green, yellow, orange, purple, pink, brown, black, white, gray, beige, turquoise, teal,
        navy blue, maroon, gold, silver, pastel colors, colorful, monochrome, black and white, sepia,
        vintage, retro, modern, minimalism, rustic, abstract, pattern, texture, symmetry, close-up,
        macro photography, portrait photography, landscape photography, street photography,
        aerial photography, aerial view, panorama, bokeh, long exposure, silhouette, shadow, reflection,
        natural light, backlighting, lens flare, night, daytime, daylight, outdoor, indoor, nature,
        tourism, leisure, lifestyle, vacation, fun, relaxation, love, beauty, fashion, art, design,
        decoration, still life, copy space, blurred background, photograph, snapshot, tranquility,
        adventure, freedom, solitude, urban, rural, tropical, scenic, wilderness, environment, technology,
        business, education, health, wellness, food photography, wildlife photography, cute, cozy,
        elegant, luxury, bright, dark, soft focus, high angle view, low angle view, top view, side view,
        rear view, wide shot, candid, posed, motion blur, stripes, polka dots, plaid, floral pattern,
        geometric shapes, handmade, homemade, organic, fresh, healthy eating, clean, messy, empty,
        crowded, quiet, peaceful, busy, traditional, cultural, historic, contemporary, industrial,
        spring colors, warm colors, cool colors, film grain, high key, low key, golden light""",
    ),
    (
        "events",
        "a holiday, event or celebration",
        """holiday, christmas, christmas tree, christmas lights, santa hat, halloween, jack-o'-lantern,
        easter, easter egg, thanksgiving, new year celebration, fireworks, diwali, lunar new year,
        hanukkah, birthday, anniversary, carnival, county fair, ferris wheel, roller coaster, carousel,
        circus, music festival, wedding ring, wedding cake topper, confetti, party hat, pinata,
        graduation cap, award ceremony, opening ceremony, family reunion, baby shower, garden party,
        dinner party, block party, street festival, food festival, art fair, book fair, science fair,
        talent show, school play, recital, sports event, road race, charity run""",
    ),
    (
        "crime_justice",
        "a term from crime, policing or justice",
        """police, police station, handcuffs, prison, jail cell, prison bars, prisoner, criminal, mugshot,
        thief, burglar, robbery, crime scene, arrest, suspect, courtroom, gavel, detective badge,
        fingerprint, wanted poster, police tape, barbed wire, police badge, police dog, riot shield,
        courthouse, witness stand, jury box, evidence bag, security checkpoint""",
    ),
)

# Natural modifier + base combinations ("red dress", "wooden table"); only pairs that read as real tags.
_COMBOS: tuple[tuple[str, str, str], ...] = (
    (
        "red, blue, green, yellow, black, white, pink, purple, orange, gray, brown",
        "dress, shirt, t-shirt, jacket, hat, sweater, coat, scarf, skirt",
        "an item of clothing",
    ),
    ("red, blue, black, white, silver, yellow, green, gray", "car", "a vehicle"),
    ("red, blue, black, white, yellow, green", "bicycle, truck, motorcycle, van", "a vehicle"),
    ("red, yellow, white, blue", "bus, boat", "a vehicle"),
    ("wooden", "table, chair, bench, door, floor, fence, bridge, boat, spoon, box, crate, shelf, deck, toy, "
     "bowl, cutting board, sign, barrel, cabin, pier, stairs, gate, ladder", "an object or structure"),
    ("metal", "fence, gate, bench, bucket, roof, chair, table, sculpture, box", "an object or structure"),
    ("glass", "vase, bottle, jar, window, door, table, bowl, building", "an object or structure"),
    ("leather", "boots, bag, sofa, belt, chair, gloves, wallet, armchair", "an object"),
    ("stone", "wall, bridge, house, path, fountain, stairs, church, tower, cottage, fireplace", "a structure"),
    ("brick", "house, building, chimney, path, church, arch", "a structure"),
    ("plastic", "bottle, bag, chair, cup, container, bucket, box", "an object"),
    ("wicker", "basket, chair, sofa, lamp", "an object"),
    ("ceramic", "bowl, mug, vase, plate, tile, teapot, pot", "an object"),
    ("paper", "lantern, cup, plate, crane, map", "an object"),
)


_MATERIALS = {"wooden": "wood", "metal": "metal", "glass": "glass", "leather": "leather", "stone": "stone",
              "brick": "brick", "plastic": "plastic", "wicker": "wicker", "ceramic": "ceramic", "paper": "paper"}


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _slug(name: str) -> str:
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    s = s.replace("'", "")
    return re.sub(r"[^a-z0-9]+", "_", s).strip("_")


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.replace("\n", " ").split(",") if w.strip()]


@lru_cache(maxsize=1)
def _vocabulary_records() -> tuple[tuple[str, str, str, str], ...]:
    """(label, name, description, section) for every tag, first occurrence of a label id wins."""
    seen: dict[str, tuple[str, str, str, str]] = {}
    for section, desc, words in _VOCAB_SECTIONS:
        for name in _words(words):
            label = _slug(name)
            if label not in seen:
                seen[label] = (label, name, f"{_cap(name)}: {desc}.", section)
    for mods, bases, desc in _COMBOS:
        for mod in _words(mods):
            for base in _words(bases):
                name = f"{mod} {base}"
                label = _slug(name)
                if label not in seen:
                    what = f"made of {_MATERIALS[mod]}" if mod in _MATERIALS else f"in {mod}"
                    seen[label] = (label, name, f"{_cap(name)}: {desc} ({base}) {what}.", "combos")
    return tuple(seen.values())


def demo_vocabulary() -> pd.DataFrame:
    """The demo tagger's vocabulary: ``label`` (slug id), ``name`` and ``description``."""
    recs = _vocabulary_records()
    return pd.DataFrame(
        {
            "label": pd.array([r[0] for r in recs], dtype="string"),
            "name": pd.array([r[1] for r in recs], dtype="string"),
            "description": pd.array([r[2] for r in recs], dtype="string"),
        }
    )


# --------------------------------------------------------------------------------------------
# Content model. A tag list is "name" or "name:p" (the tag is there with probability p). Every
# name must be a vocabulary name; _check_content() verifies this before any data is generated.
# --------------------------------------------------------------------------------------------

# Scenes: the tags a photo of that place carries.
_SCENES: dict[str, str] = {
    "kitchen": "kitchen, indoor:0.7, countertop:0.5, stove:0.3, cabinet:0.3",
    "living_room": "living room, indoor:0.7, sofa:0.6, rug:0.4, lamp:0.3, throw pillow:0.2",
    "bedroom": "bedroom, indoor:0.7, bed:0.7, pillow:0.4, blanket:0.3",
    "cafe": "cafe, coffee shop:0.5, indoor:0.6, table:0.5, chair:0.4, coffee:0.5, cup:0.4",
    "office": "office, indoor:0.7, desk:0.6, computer monitor:0.4, chair:0.4",
    "meeting_room": "meeting room, conference room:0.5, indoor:0.7, table:0.5, whiteboard:0.3",
    "park": "park, grass:0.8, tree:0.8, outdoor:0.7, bench:0.3, path:0.2",
    "city_park": "city park, park, tree:0.7, grass:0.6, outdoor:0.6, bench:0.3",
    "playground": "playground, outdoor:0.7, slide:0.5, swing:0.5, jungle gym:0.3, sand:0.2",
    "backyard": "backyard, grass:0.8, outdoor:0.7, fence:0.4, lawn:0.4, tree:0.4",
    "garden": "garden, flower:0.6, plant:0.7, outdoor:0.6, green:0.4, grass:0.4",
    "vegetable_garden": "vegetable garden, garden, plant:0.7, outdoor:0.6, tomato plant:0.3",
    "beach": "beach, sand:0.9, sea:0.8, sky:0.8, ocean:0.5, coast:0.4, wave:0.5, summer:0.4, outdoor:0.6",
    "street": "city street, street, sidewalk:0.6, building:0.7, urban:0.5, car:0.4, outdoor:0.5",
    "downtown": "downtown, city, skyscraper:0.5, building:0.8, urban:0.6, street:0.5, outdoor:0.5",
    "sidewalk": "sidewalk, street, building:0.6, urban:0.4, outdoor:0.5",
    "market": "farmers market, market, vegetable:0.6, fruit:0.6, outdoor:0.5, basket:0.3, street food:0.2",
    "gym": "gym, indoor:0.7, fitness:0.6, exercise:0.5, dumbbell:0.4, treadmill:0.3",
    "mountain": "mountain, sky:0.7, rock:0.5, valley:0.3, mountain range:0.4, landscape:0.4, outdoor:0.6",
    "trail": "hiking trail, trail, forest:0.6, tree:0.7, outdoor:0.6, nature:0.5",
    "lake": "lake, water:0.8, sky:0.6, tree:0.5, reflection:0.4, nature:0.4, outdoor:0.6",
    "pier": "pier, water:0.8, sea:0.5, sky:0.6, dock:0.3, outdoor:0.6",
    "cliff": "cliff, rock:0.8, sky:0.6, outdoor:0.6, nature:0.4",
    "court": "basketball court, outdoor:0.5, basketball hoop:0.6, urban:0.3",
    "soccer_field": "soccer field, grass:0.8, outdoor:0.7, soccer goal:0.4",
    "pool": "swimming pool, water:0.8, summer:0.5, outdoor:0.5, blue:0.4",
    "studio": "photo studio, indoor:0.7, easel:0.3, canvas:0.3, studio light:0.2",
    "porch": "porch, house:0.6, outdoor:0.5, chair:0.4",
    "town_square": "town square, plaza:0.4, building:0.7, pigeon:0.3, outdoor:0.6",
    "country_road": "country road, road, countryside:0.6, field:0.5, sky:0.6, outdoor:0.6",
    "classroom": "classroom, school:0.6, indoor:0.7, desk:0.6, chalkboard:0.3",
    "garage": "garage, indoor:0.5, tool:0.5, workbench:0.3",
    "snow": "snow, winter:0.8, outdoor:0.6, snowfall:0.3, tree:0.3",
    "zoo": "zoo, outdoor:0.5, fence:0.4, tree:0.4, animal:0.5",
    "farm": "farm, barn:0.4, farmland:0.5, countryside:0.5, grass:0.6, fence:0.4, outdoor:0.6",
    "hallway": "hallway, indoor:0.7, tiled floor:0.3, wall:0.4",
    "library": "library, book:0.8, bookshelf:0.7, indoor:0.7, reading:0.3",
    "dining_room": "dining room, dining table:0.7, chair:0.6, indoor:0.7, plate:0.3",
    "skate_park": "skate park, outdoor:0.6, urban:0.4, graffiti:0.3",
    "harbor": "harbor, boat:0.8, water:0.8, marina:0.4, sky:0.6, dock:0.4, outdoor:0.6",
    "savanna": "savanna, grassland:0.7, acacia tree:0.4, sky:0.6, wildlife:0.6, outdoor:0.5",
    "forest": "forest, tree:0.9, woodland:0.4, nature:0.6, moss:0.2, outdoor:0.5",
    "rainforest": "rainforest, jungle:0.6, tree:0.8, leaf:0.5, nature:0.5",
    "arctic": "snow:0.8, ice:0.7, winter:0.5, sea ice:0.4, tundra:0.3",
    "reef": "coral reef, underwater, marine life:0.7, coral:0.6, ocean:0.6, blue:0.4",
    "aquarium": "aquarium, underwater:0.6, water:0.7, fish tank:0.4, indoor:0.5",
    "meadow": "meadow, grass:0.9, wildflowers:0.4, field:0.5, outdoor:0.6, nature:0.5",
    "pond": "pond, water:0.8, reeds:0.3, nature:0.5, reflection:0.3",
    "sky": "sky:0.9, blue sky:0.6, cloud:0.5, outdoor:0.5",
    "home": "indoor:0.7, house:0.3, living room:0.4",
    "sanctuary": "tree:0.8, forest:0.5, wildlife:0.6, nature:0.5",
}

# Activities by age group: (phrase, tags, scene). Every phrase starts with a gerund so that
# "smiling while <phrase>" reads. {dog} is replaced by a dog breed (its tags are added).
_Activity = tuple[str, str, str]

_ACT_SHARED: tuple[_Activity, ...] = (
    ("walking a {dog} along the beach", "dog, dog walking:0.6, leash:0.5, pet:0.5, walking:0.4", "beach"),
    ("walking a {dog} through a leafy park", "dog, dog walking:0.6, leash:0.5, pet:0.5", "park"),
    ("reading a book on a park bench", "book, reading, bench:0.8, sitting:0.4", "park"),
    ("riding a bicycle down a quiet street", "bicycle, cycling, riding a bike:0.4, helmet:0.2", "street"),
    ("eating an ice cream cone on a sunny boardwalk", "ice cream cone, ice cream, eating ice cream:0.5, "
     "boardwalk:0.7, summer:0.5", "beach"),
    ("drinking hot chocolate at a small cafe table", "hot chocolate, mug:0.6, cup:0.4", "cafe"),
    ("taking a photo with a smartphone in a busy square", "smartphone, taking a photo, photography:0.4, "
     "mobile phone:0.4", "town_square"),
    ("swimming laps in an outdoor pool", "swimming, swimmer:0.4, swim cap:0.3", "pool"),
    ("planting flowers in a backyard garden", "gardening, flower, plant:0.7, trowel:0.3, flower pot:0.3",
     "backyard"),
    ("sitting on a wooden porch with a cat", "cat, pet:0.5, sitting:0.5", "porch"),
    ("having a picnic on a blanket in the park", "picnic, picnic blanket:0.6, having a picnic:0.3, "
     "picnic basket:0.4, food:0.4", "park"),
    ("building a snowman after a fresh snowfall", "snowman, snow, winter:0.6, knit hat:0.3, mittens:0.3",
     "snow"),
    ("feeding ducks at the edge of a pond", "duck, feeding birds:0.6, bird:0.5, bread:0.3", "pond"),
    ("looking out over a calm lake at sunset", "sunset, golden hour:0.4, silhouette:0.3, standing:0.3",
     "lake"),
)

_ACT_CHILD: tuple[_Activity, ...] = (
    ("playing on a bright red playground slide", "slide, playing, sliding:0.4", "playground"),
    ("swinging high on a swing at the playground", "swing, swinging:0.6, playing:0.6", "playground"),
    ("building a tower with toy blocks on the floor", "toy blocks, toy, playing, playing with toys:0.5, "
     "building blocks:0.3, wooden toy:0.3", "living_room"),
    ("hugging a teddy bear in a cozy bedroom", "teddy bear, stuffed animal:0.7, toy, plush toy:0.4, "
     "hugging:0.3, cozy:0.3", "bedroom"),
    ("drawing with crayons at the kitchen table", "crayon, drawing, paper:0.6, coloring book:0.3, "
     "arts and crafts:0.4", "kitchen"),
    ("blowing soap bubbles in a sunny backyard", "soap bubbles, blowing bubbles:0.6, bubble wand:0.5, "
     "playing:0.6, summer:0.3", "backyard"),
    ("flying a colorful kite in a grassy park", "kite, kite flying, sky:0.6, colorful:0.4, playing:0.5",
     "park"),
    ("kicking a soccer ball across a school field", "soccer ball, soccer, playing soccer:0.5, playing:0.5",
     "soccer_field"),
    ("splashing in a shallow swimming pool", "swimming, water, playing:0.6, summer:0.5, swimsuit:0.4",
     "pool"),
    ("building a sandcastle with a plastic bucket on the beach", "sandcastle, plastic bucket, bucket, "
     "sandcastle building:0.4, toy:0.5, playing:0.6", "beach"),
    ("playing with a wooden toy train", "toy train, toy, wooden toy:0.6, playing with toys:0.5, playing",
     "living_room"),
    ("riding a tricycle along the sidewalk", "tricycle, toy:0.3, playing:0.5, riding a bike:0.3",
     "sidewalk"),
    ("blowing out candles on a birthday cake", "birthday cake, cake, candle, birthday party, celebration:0.6, "
     "party hat:0.3, birthday:0.6", "dining_room"),
    ("doing homework at a small wooden desk", "homework, studying:0.5, notebook:0.6, pencil:0.5, desk",
     "bedroom"),
    ("jumping on a trampoline in the backyard", "trampoline, jumping, playing:0.7, fun:0.5", "backyard"),
    ("petting a rabbit at a petting farm", "rabbit, farm animal:0.4, pet:0.3", "farm"),
    ("reading a picture book in a school library", "picture book, book, reading, learning:0.3", "library"),
    ("playing with a toy dinosaur on a rug", "toy dinosaur, toy, playing with toys:0.6, playing, rug:0.6",
     "living_room"),
    ("climbing on a jungle gym at recess", "jungle gym, climbing, playing, playground", "playground"),
    ("holding a balloon at a birthday party", "balloon, birthday party, party:0.6, celebration:0.5",
     "living_room"),
    ("skating on a kick scooter in the park", "kick scooter, playing:0.5, helmet:0.3", "park"),
    ("drawing with sidewalk chalk on a driveway", "sidewalk chalk, drawing, playing:0.5, colorful:0.4",
     "sidewalk"),
)

_ACT_ADULT: tuple[_Activity, ...] = (
    ("cooking pasta in a small kitchen", "cooking, pasta, cooking pot:0.6, stove:0.5", "kitchen"),
    ("working on a laptop in a coffee shop", "laptop, working, remote work:0.4, coffee:0.6, typing:0.3",
     "cafe"),
    ("jogging through a city park in the morning", "jogging, running, running shoes:0.5, fitness:0.5",
     "city_park"),
    ("playing an acoustic guitar on a sofa", "acoustic guitar, guitar, playing guitar, musical instrument:0.5",
     "living_room"),
    ("lifting weights at the gym", "weightlifting, dumbbell, barbell:0.4, fitness:0.6", "gym"),
    ("hiking on a mountain trail with a backpack", "hiking, backpack, hiker:0.5, hiking boots:0.4", "mountain"),
    ("shopping for vegetables at a farmers market", "vegetable, grocery shopping:0.5, shopping, "
     "shopping bag:0.3, tomato:0.4", "market"),
    ("surfing a wave at sunset", "surfing, surfboard, wave, sunset:0.7, surfer:0.5, wetsuit:0.4", "beach"),
    ("giving a presentation in a meeting room", "presentation, business meeting:0.5, public speaking:0.4, "
     "projector:0.3, business:0.5", "meeting_room"),
    ("painting on a canvas in a bright studio", "painting, canvas, easel:0.6, paintbrush:0.6, art:0.6",
     "studio"),
    ("doing yoga on a mat in a living room", "yoga, yoga mat, stretching:0.4, wellness:0.4", "living_room"),
    ("grilling burgers in a backyard", "grilling, barbecue, hamburger:0.7, smoke:0.3", "backyard"),
    ("talking on the phone while walking downtown", "smartphone, talking on the phone, walking:0.5, "
     "mobile phone:0.5", "downtown"),
    ("serving coffee behind a cafe counter", "barista, coffee, espresso machine:0.6, latte art:0.3, apron:0.5",
     "cafe"),
    ("fixing a bicycle in a garage", "bicycle, wrench:0.6, tool:0.6, mechanic:0.3", "garage"),
    ("rock climbing on a steep sandstone cliff", "rock climbing, climbing, climbing harness:0.5, rope:0.5",
     "cliff"),
    ("playing basketball on an outdoor court", "basketball, playing basketball:0.5, sport:0.5, athlete:0.3",
     "court"),
    ("riding a motorcycle on a country road", "motorcycle, helmet:0.6, driving:0.3, leather jacket:0.3",
     "country_road"),
    ("kayaking on a calm lake", "kayaking, kayak, paddle:0.6, life jacket:0.4", "lake"),
    ("typing on a laptop at a home office desk", "laptop, typing, working, home office, desk", "office"),
    ("chopping vegetables on a wooden cutting board", "cooking, vegetable, knife:0.6, cutting board, "
     "wooden cutting board:0.4", "kitchen"),
    ("reading a newspaper over breakfast", "newspaper, reading, breakfast, coffee:0.5, cup:0.3", "kitchen"),
    ("carrying a surfboard across the sand", "surfboard, surfer:0.5, walking:0.4", "beach"),
    ("taking photos with a DSLR camera on a city street", "DSLR camera, camera, photographer:0.5, "
     "taking a photo:0.6, photography", "street"),
    ("stretching before a run in the park", "stretching, running shoes:0.5, fitness:0.5, exercise:0.5",
     "park"),
    ("baking bread in a home kitchen", "baking, bread, dough:0.6, flour:0.5, oven:0.4", "kitchen"),
    ("playing the piano in a bright living room", "piano, playing piano, musical instrument:0.5, pianist:0.4",
     "living_room"),
    ("waiting for a bus on a rainy sidewalk", "bus stop, umbrella:0.7, rain:0.6, commuting:0.4", "sidewalk"),
    ("teaching a class in a sunny classroom", "teacher, teaching, chalkboard:0.5, education:0.5",
     "classroom"),
    ("working on a laptop from a wheelchair in an office", "wheelchair, laptop, working, office worker:0.4",
     "office"),
)

_ACT_SENIOR: tuple[_Activity, ...] = (
    ("walking with a cane through a quiet park", "cane, walking stick:0.5, walking, walking with a cane:0.5",
     "park"),
    ("sitting in a wheelchair in a sunny garden", "wheelchair, sitting:0.5, flower:0.4", "garden"),
    ("reading a newspaper on a front porch", "newspaper, reading, reading glasses:0.5, chair:0.5", "porch"),
    ("playing chess at a table in the park", "chess, chess board, playing chess:0.6, board game:0.4, table:0.5",
     "park"),
    ("knitting a scarf in a comfortable armchair", "knitting, yarn, knitting needles, armchair:0.8, scarf:0.4",
     "living_room"),
    ("tending tomatoes in a vegetable garden", "gardening, tomato, tomato plant:0.6, watering can:0.3",
     "vegetable_garden"),
    ("feeding pigeons in a town square", "pigeon, feeding birds:0.6, bird:0.6, bench:0.4", "town_square"),
    ("drinking tea by a sunny window", "tea, teacup, window:0.6, relaxation:0.4, cup:0.4", "living_room"),
    ("doing tai chi in a park in the early morning", "tai chi, exercise:0.5, wellness:0.4, meditation:0.2",
     "park"),
    ("fishing from a wooden pier", "fishing, fishing rod, wooden pier:0.5, fisherman:0.4", "pier"),
    ("walking with a walking frame down a bright hallway", "walking frame, walking, hallway:0.6", "hallway"),
    ("playing cards at the kitchen table", "playing cards, card game, table:0.6", "kitchen"),
    ("doing a jigsaw puzzle at the dining table", "jigsaw puzzle, puzzle, dining table:0.6", "dining_room"),
    ("sitting on a bench with a walking stick", "walking stick, cane:0.6, bench, sitting:0.6", "park"),
    ("watering potted plants on a balcony", "watering can, potted plant, gardening:0.6, balcony", "garden"),
    ("reading a book with reading glasses in an armchair", "reading glasses, book, reading, armchair",
     "living_room"),
    ("painting a watercolor landscape at an easel", "painting, easel, paintbrush:0.6, art:0.5", "studio"),
    ("baking cookies in a warm kitchen", "baking, cookie, baking tray:0.6, oven:0.4", "kitchen"),
    ("dancing in a community hall", "dancing, celebration:0.3, indoor:0.6", "hallway"),
)

# Relative weights of activities that are rarer than the rest of their list (default weight 1).
_RARE_ACTIVITIES = {"working on a laptop from a wheelchair in an office": 0.2}

# Clothing: (tag name, probability, text phrase) per (age group, gender). Colour is drawn separately.
_CLOTHES: dict[tuple[str, str], tuple[tuple[str, float], ...]] = {
    ("child", "woman"): (("dress", 0.25), ("t-shirt", 0.3), ("shorts", 0.15), ("hoodie", 0.15),
                         ("sneakers", 0.2), ("backpack", 0.1), ("sweater", 0.1), ("hat", 0.08)),
    ("child", "man"): (("t-shirt", 0.4), ("shorts", 0.25), ("hoodie", 0.2), ("sneakers", 0.2),
                       ("backpack", 0.1), ("sweater", 0.1), ("baseball cap", 0.1), ("hat", 0.05)),
    ("adult", "woman"): (("dress", 0.25), ("skirt", 0.1), ("blouse", 0.12), ("t-shirt", 0.2),
                         ("sweater", 0.15), ("jacket", 0.15), ("jeans", 0.2), ("coat", 0.08), ("scarf", 0.08),
                         ("earrings", 0.1), ("necklace", 0.1), ("handbag", 0.08), ("sunglasses", 0.08)),
    ("adult", "man"): (("t-shirt", 0.25), ("shirt", 0.2), ("suit", 0.07), ("tie", 0.06), ("jacket", 0.15),
                       ("sweater", 0.12), ("jeans", 0.25), ("shorts", 0.1), ("baseball cap", 0.1),
                       ("coat", 0.08), ("glasses", 0.12), ("sunglasses", 0.08)),
    ("senior", "woman"): (("cardigan", 0.2), ("sweater", 0.2), ("dress", 0.15), ("coat", 0.12),
                          ("scarf", 0.12), ("hat", 0.08), ("glasses", 0.35), ("necklace", 0.08)),
    ("senior", "man"): (("cardigan", 0.15), ("sweater", 0.2), ("shirt", 0.2), ("coat", 0.12),
                        ("hat", 0.12), ("glasses", 0.35), ("jacket", 0.12), ("flannel shirt", 0.05)),
}
_COLOURS = ("red", "blue", "green", "yellow", "black", "white", "pink", "purple", "orange", "gray", "brown")
_COLOURABLE = frozenset({"dress", "shirt", "t-shirt", "jacket", "hat", "sweater", "coat", "scarf", "skirt"})

# Animals: class -> (weight, species, generic tags, actions). Species is "@section" (that vocabulary
# section less _GENERIC_SPECIES) or an explicit list, so that every action suits every species of its class.
_ANIMAL_CLASSES: dict[str, tuple[float, str, str, tuple[_Activity, ...]]] = {
    "dog": (0.22, "@dog_breeds", "dog, pet:0.7, animal:0.6, mammal:0.3, puppy:0.1", (
        ("running across a grassy field", "running, grass, field:0.5", "meadow"),
        ("sleeping on a sofa", "sleeping, sofa", "living_room"),
        ("catching a frisbee in a park", "frisbee, jumping:0.4, playing:0.5", "park"),
        ("sitting on a wooden porch", "sitting", "porch"),
        ("playing in the snow", "snow, playing:0.5, winter:0.6", "snow"),
        ("swimming in a lake", "swimming, water", "lake"),
        ("lying on a rug by the fireplace", "rug, fireplace, cozy:0.4", "living_room"),
        ("chewing a stick in the backyard", "grass:0.6, branch:0.3", "backyard"),
        ("waiting patiently by the front door", "door, doormat:0.3", "home"),
    )),
    "cat": (0.11, "@cat_breeds", "cat, pet:0.7, animal:0.5, mammal:0.3, kitten:0.1", (
        ("sleeping on a sunny windowsill", "window sill, sleeping, sunlight:0.5", "home"),
        ("curled up on a knitted blanket", "blanket, sleeping:0.5, cozy:0.4", "bedroom"),
        ("playing with a ball of yarn", "yarn, playing:0.6", "living_room"),
        ("sitting on a kitchen counter", "countertop, sitting:0.5", "kitchen"),
        ("stretching on a wooden floor", "hardwood floor:0.5, stretching:0.4", "living_room"),
        ("peeking out of a cardboard box", "cardboard box, box:0.6, cute:0.5", "home"),
        ("resting on a cat tree", "cat tree, sitting:0.3", "home"),
    )),
    "farm": (0.09, "@farm_animals", "farm animal:0.7, animal:0.6, livestock:0.4", (
        ("standing in a green pasture", "grass, field:0.6", "farm"),
        ("standing in a muddy farmyard", "mud:0.6, barn:0.4", "farm"),
        ("resting in the shade of a red barn", "barn, shadow:0.3", "farm"),
        ("walking along a wooden fence in the countryside", "wooden fence:0.6, fence:0.6", "farm"),
    )),
    "small_pet": (0.02, "hamster, guinea pig, gerbil, ferret, chinchilla, rabbit, angora rabbit",
                  "pet:0.8, animal:0.5, mammal:0.4, rodent:0.3, cute:0.5", (
        ("nibbling a piece of lettuce", "lettuce, eating:0.4", "home"),
        ("sniffing around a wooden hutch", "wooden box:0.3", "backyard"),
        ("peeking out of a cardboard tube", "cardboard box:0.3, cute:0.4", "home"),
        ("sitting on a soft blanket", "blanket", "home"),
    )),
    "savanna": (0.06, "lion, lioness, lion cub, african elephant, giraffe, zebra, cheetah, leopard, hyena, "
                "rhinoceros, hippopotamus, wildebeest, gazelle, impala, warthog, african buffalo, meerkat, "
                "jackal, african wild dog, oryx, kudu, springbok, serval, caracal, antelope",
                "wildlife:0.8, animal:0.7, mammal:0.6, wild animal:0.4", (
        ("resting under an acacia tree", "acacia tree, shadow:0.3", "savanna"),
        ("walking across dry grassland", "grassland, grass", "savanna"),
        ("drinking at a watering hole", "water, pond:0.4", "savanna"),
        ("standing in golden grass at sunset", "grass, sunset, golden hour:0.4", "savanna"),
    )),
    "forest": (0.06, "red deer, white-tailed deer, fawn, moose, elk, brown bear, black bear, grizzly bear, "
               "red fox, gray wolf, lynx, bobcat, cougar, wild boar, badger, raccoon, skunk, porcupine, "
               "opossum, hedgehog, red squirrel, gray squirrel, chipmunk, beaver, river otter, marten, "
               "weasel, stoat, bison, roe deer, fallow deer",
               "wildlife:0.8, animal:0.7, mammal:0.6, wild animal:0.4", (
        ("standing alert in a misty forest", "forest, fog:0.5, mist:0.4", "forest"),
        ("foraging among fallen autumn leaves", "autumn leaves, autumn:0.5", "forest"),
        ("crossing a shallow stream in the woods", "stream, water, woodland:0.5", "forest"),
        ("peering out from behind a mossy tree trunk", "tree trunk, moss", "forest"),
        ("walking along the edge of a meadow at dawn", "meadow, dawn:0.5, grass", "meadow"),
    )),
    "polar": (0.035, "polar bear, arctic fox, walrus, harbor seal, sea lion, musk ox, arctic hare, "
              "emperor penguin, king penguin, penguin",
              "wildlife:0.8, animal:0.7, wild animal:0.3", (
        ("standing on sea ice", "sea ice, ice", "arctic"),
        ("resting on a snowy rocky shore", "rocky shore, snow, rock", "arctic"),
        ("crossing a wide stretch of snow", "snow, winter", "arctic"),
        ("near the edge of a floating iceberg", "iceberg, ice, water", "arctic"),
    )),
    "wild_other": (0.045, "giant panda, red panda, tiger, bengal tiger, siberian tiger, snow leopard, "
                   "mountain goat, ibex, bighorn sheep, asian elephant, tapir, pangolin, kangaroo, wallaby, "
                   "koala, wombat, quokka, capybara, sloth, three-toed sloth, armadillo, giant anteater, "
                   "jaguar, ocelot, okapi, camel, dromedary camel, reindeer, caribou",
                   "wildlife:0.8, animal:0.7, mammal:0.6, wild animal:0.4", (
        ("resting in its natural habitat", "nature:0.5", "forest"),
        ("photographed at a wildlife sanctuary", "zoo:0.4, tree:0.5", "sanctuary"),
        ("looking toward the camera in soft light", "natural light:0.5", "sanctuary"),
        ("in a lush green enclosure at the zoo", "zoo, green:0.5", "zoo"),
    )),
    "primate": (0.05, "@primates", "primate:0.8, animal:0.6, mammal:0.5, wildlife:0.6", (
        ("sitting in a tree in the rainforest", "tree, rainforest", "rainforest"),
        ("eating fruit on a mossy branch", "fruit, branch, eating:0.4", "rainforest"),
        ("resting in the shade at a wildlife sanctuary", "shadow:0.3, tree:0.6", "sanctuary"),
        ("looking at the camera from a grassy enclosure", "grass, zoo:0.6", "zoo"),
    )),
    "songbird": (0.06, "robin, american robin, blue jay, northern cardinal, sparrow, house sparrow, finch, "
                 "goldfinch, canary, warbler, wren, chickadee, nuthatch, woodpecker, hummingbird, kingfisher, "
                 "swallow, starling, crow, raven, magpie, oriole, blackbird, red-winged blackbird, bluebird, "
                 "mockingbird, lark, thrush, hoopoe, bee-eater, sunbird, kookaburra, parrot, macaw, "
                 "scarlet macaw, cockatoo, parakeet, lovebird, toucan, hornbill, dove, mourning dove, pigeon",
                 "bird, songbird:0.4, animal:0.4, wildlife:0.4, feather:0.3", (
        ("perched on a thin branch", "branch, tree:0.6", "forest"),
        ("sitting on a weathered fence post", "fence, wooden fence:0.3", "farm"),
        ("feeding at a garden bird feeder", "bird feeder, garden:0.6", "garden"),
        ("singing on a blossoming branch in spring", "branch, spring, cherry blossom:0.3", "garden"),
    )),
    "raptor": (0.03, "bald eagle, golden eagle, hawk, red-tailed hawk, falcon, peregrine falcon, kestrel, "
               "osprey, vulture, condor, barn owl, snowy owl, great horned owl, owl",
               "bird, bird of prey:0.7, animal:0.4, wildlife:0.6, predator:0.3", (
        ("perched on a dead tree branch", "branch, tree", "forest"),
        ("soaring across a clear blue sky", "sky, blue sky", "sky"),
        ("watching a meadow from a fence post", "meadow, fence", "meadow"),
    )),
    "waterbird": (0.04, "flamingo, pelican, heron, great blue heron, egret, stork, sandhill crane, "
                  "crowned crane, ibis, spoonbill, swan, mute swan, black swan, mallard, wood duck, "
                  "canada goose, seagull, gull, tern, puffin, cormorant, loon, grebe, sandpiper, plover",
                  "bird, waterfowl:0.5, animal:0.4, wildlife:0.5", (
        ("standing in shallow water", "water, reflection:0.4", "pond"),
        ("flying low over a lake", "water, sky:0.6", "lake"),
        ("floating on a calm pond", "pond, water, reflection:0.5", "pond"),
        ("resting on a sandy shore", "sand, shore", "beach"),
    )),
    "groundbird": (0.015, "peacock, pheasant, quail, grouse, partridge, roadrunner, ostrich, emu, cassowary, "
                   "kiwi bird, guinea fowl",
                   "bird, animal:0.4, wildlife:0.4, feather:0.4", (
        ("walking through tall grass", "grass", "meadow"),
        ("foraging on the ground in a clearing", "forest:0.4, grass:0.4", "forest"),
        ("standing at the edge of a field", "field", "farm"),
    )),
    "swimmer": (0.06, "goldfish, koi, clownfish, angelfish, betta fish, guppy, salmon, trout, rainbow trout, "
                "tuna, bluefin tuna, swordfish, marlin, barracuda, pufferfish, lionfish, seahorse, stingray, "
                "manta ray, great white shark, hammerhead shark, whale shark, tiger shark, reef shark, "
                "moray eel, octopus, squid, cuttlefish, jellyfish, sea turtle, green sea turtle, "
                "parrotfish, tang fish, grouper, dolphin, bottlenose dolphin, orca, humpback whale, "
                "beluga whale, manatee, sea otter",
                "marine life:0.7, animal:0.5, underwater:0.5", (
        ("swimming over a coral reef", "coral reef, coral:0.6", "reef"),
        ("gliding through clear blue water", "water, blue:0.5", "reef"),
        ("swimming in a large aquarium tank", "aquarium, fish tank:0.4", "aquarium"),
    )),
    "seafloor": (0.025, "starfish, sea urchin, sea anemone, crab, hermit crab, lobster, nudibranch, "
                 "sea cucumber, octopus, shrimp",
                 "marine life:0.7, animal:0.4, invertebrate:0.3", (
        ("resting on the sandy sea floor", "sand, underwater", "reef"),
        ("clinging to a coral-covered rock", "coral, rock, underwater", "reef"),
        ("in a rock pool at low tide", "tide pool, water, rock", "beach"),
    )),
    "small_reptile": (0.02, "gecko, leopard gecko, chameleon, anole, skink, tree frog, red-eyed tree frog, "
                      "poison dart frog, frog, newt, salamander, green tree python, corn snake",
                      "reptile:0.4, amphibian:0.3, animal:0.5, wildlife:0.4, close-up:0.4", (
        ("resting on a tree branch", "branch, tree:0.5", "rainforest"),
        ("sitting on a large green leaf", "leaf, green:0.5", "rainforest"),
        ("clinging to a mossy log", "moss, tree trunk:0.4", "forest"),
    )),
    "large_reptile": (0.02, "crocodile, alligator, caiman, gharial, komodo dragon, monitor lizard, iguana, "
                      "green iguana, tortoise, giant tortoise, snapping turtle, king cobra, rattlesnake, "
                      "boa constrictor, ball python, bearded dragon, gila monster",
                      "reptile:0.7, animal:0.5, wildlife:0.4", (
        ("basking on a warm rock", "rock, sunlight:0.5", "forest"),
        ("resting at the edge of a muddy river", "river, mud", "forest"),
        ("crawling across the sand", "sand", "beach"),
    )),
    "pollinator": (0.03, "butterfly, monarch butterfly, swallowtail butterfly, moth, luna moth, bee, honey bee, "
                   "bumblebee, ladybug, dragonfly, damselfly",
                   "insect:0.7, macro photography:0.5, close-up:0.4", (
        ("resting on a flower petal", "flower", "garden"),
        ("feeding on a purple flower", "flower, purple:0.5", "meadow"),
        ("perched on a stem of lavender", "lavender, flower", "garden"),
    )),
    "crawler": (0.025, "ant, fire ant, beetle, stag beetle, dung beetle, spider, tarantula, jumping spider, "
                "scorpion, centipede, millipede, snail, slug, caterpillar, praying mantis, stick insect, "
                "grasshopper, field cricket, cicada, weevil",
                "insect:0.5, invertebrate:0.4, macro photography:0.5, close-up:0.4", (
        ("crawling on a green leaf", "leaf, green:0.5", "garden"),
        ("sitting on a blade of grass", "grass, dew:0.3", "meadow"),
        ("on a moss-covered log", "moss, tree trunk:0.4", "forest"),
    )),
}

# Places: (text, tags). Texts never mention people.
_PLACES: tuple[tuple[str, str], ...] = (
    ("A quiet sandy beach with turquoise water under a clear blue sky",
     "beach, sandy beach:0.6, sand, sea, blue sky, turquoise:0.5, coast:0.5, tropical:0.3"),
    ("Waves rolling onto a wide empty beach at sunset", "beach, wave, sunset, sea, sand, golden hour:0.4"),
    ("A mountain lake reflecting snow-capped peaks on a calm morning",
     "lake, mountain, reflection, snow:0.6, mountain peak:0.5, landscape, water"),
    ("A narrow hiking trail winding through a dense pine forest",
     "hiking trail, pine forest, forest, tree, trail, nature"),
    ("A tall waterfall pouring into a green pool surrounded by ferns",
     "waterfall, water, fern:0.6, rainforest:0.3, nature, rock:0.5"),
    ("Golden sand dunes under a pale sky in the late afternoon",
     "sand dune, desert, sand, sky, landscape:0.6"),
    ("The city skyline at night with lights reflecting on the river",
     "skyline, cityscape, night, river, reflection, skyscraper, city"),
    ("A rainy city street at dusk with glowing shop windows and wet pavement",
     "city street, rain, dusk, street, urban, puddle:0.4, reflection:0.5"),
    ("An autumn park path covered in red and yellow leaves",
     "park, autumn, autumn leaves, fall foliage, tree"),
    ("Rows of blooming lavender stretching toward distant hills",
     "lavender field, lavender, purple, hill, countryside, flower field:0.5"),
    ("A small harbor with colorful fishing boats moored at the dock",
     "harbor, fishing boat, boat, dock, water, colorful, fishing village:0.4"),
    ("An old town square with cobblestones and a stone fountain",
     "town square, old town, fountain, stone fountain:0.5, building, historic:0.5"),
    ("A white lighthouse standing on a rocky cliff above the sea",
     "lighthouse, cliff, sea, rock, coast, sky"),
    ("A deep red canyon with layered rock walls under a blue sky",
     "canyon, rock, blue sky, landscape, desert:0.4"),
    ("A winding country road between green fields and farmhouses",
     "country road, field, farmhouse, countryside, farmland, rural"),
    ("A small tropical island with palm trees in a clear lagoon",
     "island, palm tree, lagoon, tropical, tropical beach:0.5, sea"),
    ("A frozen lake surrounded by snowy pine trees in winter",
     "lake, ice, snow, pine tree, winter, frost:0.4"),
    ("A wheat field glowing gold under a dramatic evening sky",
     "wheat field, wheat, field, sunset:0.5, sky, storm clouds:0.4"),
    ("Cherry blossom trees in full bloom along a quiet canal",
     "cherry blossom, canal, tree, spring, flower, pink"),
    ("A busy night market with food stalls and hanging lanterns",
     "night market, street food, lantern, night, market"),
    ("An empty train platform under a curved glass roof",
     "train platform, train station, ceiling:0.4, architecture, empty"),
    ("A cozy living room with a fireplace, bookshelves and a leather armchair",
     "living room, fireplace, bookshelf, leather armchair, armchair, cozy, indoor"),
    ("A modern kitchen with white cabinets and a marble countertop",
     "kitchen, cabinet, countertop, modern, indoor, white"),
    ("A library reading room with long wooden tables and green lamps",
     "library, wooden table, table lamp, book, indoor, reading lamp"),
    ("A museum hall with marble columns and a high painted ceiling",
     "museum, column, ceiling, architecture, indoor, historic"),
    ("A football stadium with green turf under bright floodlights",
     "stadium, grass, soccer field:0.5, night:0.5, arena:0.4"),
    ("Terraced rice paddies on a misty hillside in the early morning",
     "rice paddy, hill, mist, fog:0.4, green, farmland, landscape"),
    ("The northern lights glowing green over a snowy valley",
     "northern lights, aurora, night sky, snow, valley, stars"),
    ("A red covered bridge crossing a rocky stream in the woods",
     "bridge, stream, woodland, forest, rock, red"),
    ("A quiet suburban street lined with trees and small houses",
     "suburban street, suburb, house, tree, street, neighborhood"),
    ("Fog drifting over rolling green hills in the countryside",
     "fog, hill, countryside, green, landscape, mist"),
    ("An empty courtroom with wooden benches and a judge's bench",
     "courtroom, wooden bench, bench, courthouse:0.5, indoor, gavel:0.3"),
    ("The brick front of a city police station on a rainy morning",
     "police station, police, brick building, building, rain, city street"),
    ("An old stone prison with high walls and barbed wire",
     "prison, barbed wire, stone wall, wall, building, historic:0.4"),
    ("A busy airport terminal with large windows facing the runway",
     "airport terminal, airport, window, airplane:0.6, indoor, travel"),
    ("A vineyard with neat rows of grapevines on a sunny hillside",
     "vineyard, grapevine, hill, countryside, green, sunny"),
    ("A glacier meeting dark blue water beneath jagged peaks",
     "glacier, ice, mountain, water, iceberg:0.4, landscape"),
    ("A small wooden cabin beside a lake in a pine forest",
     "cabin, lake, pine forest, forest, wooden cabin, water"),
    ("A quiet cafe interior with small tables and hanging plants",
     "cafe, table, hanging plant, indoor, coffee shop, cozy"),
    ("A playground with a red slide and swings on a sunny day",
     "playground, slide, swing, sunny, park"),
)

# Food: (noun phrase, tags) and settings (phrase, tags).
_FOODS: tuple[tuple[str, str], ...] = (
    ("a plate of spaghetti carbonara", "spaghetti carbonara, spaghetti, pasta, plate"),
    ("a bowl of ramen with a soft-boiled egg", "ramen, noodles, bowl, egg, soup:0.5"),
    ("a margherita pizza fresh from the oven", "margherita pizza, pizza, basil:0.5, cheese:0.5"),
    ("a stack of pancakes with blueberries and maple syrup", "pancakes, blueberry, breakfast"),
    ("a colorful poke bowl with salmon and avocado", "poke bowl, salmon fillet:0.5, avocado, bowl, rice"),
    ("a cheeseburger with french fries", "cheeseburger, hamburger, french fries, fast food"),
    ("a slice of chocolate cake with a fork", "chocolate cake, cake, dessert, fork, chocolate"),
    ("a platter of sushi rolls and sashimi", "sushi, sushi roll, sashimi, seafood, chopsticks:0.5"),
    ("a green salad with cherry tomatoes and feta", "salad, greek salad:0.5, tomato, lettuce, vegetable"),
    ("a bowl of chicken curry with rice and naan", "chicken curry, curry, rice, naan, bowl"),
    ("three tacos with lime wedges and salsa", "tacos, lime, salsa, street food:0.4"),
    ("a croissant and a cappuccino", "croissant, cappuccino, coffee, breakfast, pastry"),
    ("a bowl of fresh fruit salad", "fruit salad, fruit, strawberry:0.6, kiwi fruit:0.5, bowl"),
    ("a grilled steak with roasted vegetables", "steak, roasted vegetables, grilled vegetables:0.4, dinner"),
    ("a loaf of sourdough bread on a cutting board", "sourdough bread, bread, cutting board, baked goods"),
    ("a basket of dumplings in a bamboo steamer", "dumplings, dim sum, steamed bun:0.3, gyoza:0.3"),
    ("a scoop of strawberry ice cream in a cone", "ice cream cone, ice cream, strawberry, dessert"),
    ("a bowl of tomato soup with grilled cheese", "tomato soup, soup, grilled cheese sandwich, bowl"),
    ("a tray of chocolate chip cookies", "chocolate chip cookie, cookie, baking tray, baked goods"),
    ("a glass of red wine and a cheese platter", "red wine, wine glass, cheese platter, cheese"),
    ("a plate of fish and chips with lemon", "fish and chips, french fries, lemon, plate"),
    ("a bowl of oatmeal topped with berries and honey", "oatmeal, blueberry:0.5, raspberry:0.5, honey"),
    ("a pile of fresh oranges at a market stall", "orange fruit, fruit, market:0.5, orange"),
    ("a pot of vegetable stew simmering on the stove", "stew, vegetable soup:0.4, cooking pot, stove"),
    ("a birthday cake with lit candles", "birthday cake, cake, candle, celebration:0.5"),
    ("an avocado toast with a poached egg", "avocado toast, toast, avocado, egg, brunch:0.5"),
    ("a bowl of pad thai with peanuts and lime", "pad thai, noodles, peanuts, lime, bowl"),
    ("a latte with heart-shaped latte art", "latte, latte art, coffee, cup"),
    ("a charcuterie board with cheese, grapes and olives", "charcuterie board, cheese, grapes, olive"),
    ("a bowl of guacamole with tortilla chips", "guacamole, tortilla, avocado, bowl, snack"),
)
_FOOD_SETTINGS: tuple[tuple[str, str], ...] = (
    ("on a wooden table", "wooden table:0.6, table:0.5"),
    ("on a marble countertop", "countertop:0.6"),
    ("on a white tablecloth", "tablecloth:0.5, white:0.3"),
    ("on a small cafe table", "table:0.6, cafe:0.4"),
    ("on a picnic blanket in the grass", "picnic blanket, picnic:0.6, grass:0.5"),
    ("on a rustic kitchen counter", "countertop:0.5, kitchen:0.5, rustic:0.4"),
)
_FOOD_EXTRAS: tuple[tuple[str, str], ...] = (
    ("shot from above", "top view:0.6, food photography:0.6"),
    ("next to a cup of black coffee", "coffee, cup:0.6, mug:0.3"),
    ("with fresh herbs on the side", "herbs, basil:0.3, parsley:0.3"),
    ("in soft natural light", "natural light:0.6, food photography:0.4"),
    ("beside a glass of lemonade", "lemonade, drinking glass:0.5"),
    ("with a linen napkin and silver cutlery", "napkin, fork:0.6, knife:0.5"),
)

# Objects: (noun phrase, tags) and settings.
_OBJECTS: tuple[tuple[str, str], ...] = (
    ("a vintage typewriter", "typewriter, vintage, retro:0.5"),
    ("a ceramic vase of yellow tulips", "ceramic vase, vase, tulip, flower, yellow"),
    ("a pair of worn running shoes", "running shoes, shoes, sneakers:0.5"),
    ("a stack of old books", "stack of books, book, vintage:0.3"),
    ("an open laptop and a cup of coffee", "laptop, coffee, cup, technology:0.4"),
    ("a potted monstera plant", "monstera, potted plant, houseplant, plant"),
    ("an acoustic guitar", "acoustic guitar, guitar, musical instrument"),
    ("a set of wooden toy blocks", "toy blocks, wooden toy, toy, colorful:0.4"),
    ("a pair of wireless headphones", "headphones, technology:0.4"),
    ("a brass alarm clock", "alarm clock, clock, gold:0.3, vintage:0.3"),
    ("a leather backpack", "backpack, leather bag:0.5"),
    ("a film camera with a leather strap", "film camera, camera, vintage, retro:0.4"),
    ("a bouquet of red roses in a glass vase", "bouquet, red rose, rose, glass vase, vase"),
    ("a chess board with carved wooden pieces", "chess board, chess, board game"),
    ("a teddy bear with a knitted scarf", "teddy bear, stuffed animal, toy, scarf"),
    ("a smartphone and a pair of earbuds", "smartphone, earbuds, mobile phone, technology"),
    ("a wicker basket full of yarn", "wicker basket, basket, yarn, knitting:0.3"),
    ("a globe and an old map", "globe, map, travel:0.4, vintage:0.3"),
    ("a pair of handcuffs and a police badge", "handcuffs, police badge, police"),
    ("a row of glass jars filled with spices", "jar, mason jar:0.4, spices, glass jar"),
    ("a wooden chair", "wooden chair, chair, rustic:0.3"),
    ("a red umbrella", "umbrella, red, rain:0.3"),
    ("a hand-thrown clay bowl", "pottery, bowl, ceramic bowl, handmade"),
    ("a vinyl record on a turntable", "vinyl record, record player, turntable"),
    ("a bicycle helmet and gloves", "bicycle helmet, helmet, gloves"),
    ("a wooden cane", "cane, walking stick"),
    ("a board game with dice and cards", "board game, dice, playing cards"),
    ("a set of kitchen knives on a magnetic strip", "knife, kitchen, cooking:0.3"),
    ("a lit candle and a small hourglass", "candle, hourglass, still life"),
    ("a toolbox with a hammer and screwdrivers", "toolbox, hammer, screwdriver, tool"),
)
_OBJECT_SETTINGS: tuple[tuple[str, str], ...] = (
    ("on a wooden desk", "desk, wooden table:0.4"),
    ("on a white shelf", "shelf, white:0.4, minimalism:0.4"),
    ("against a red brick wall", "brick wall, wall:0.5"),
    ("on a kitchen counter", "countertop, kitchen:0.5"),
    ("by a sunny window", "window, sunlight:0.6, natural light:0.4"),
    ("on a living room floor", "rug:0.5, hardwood floor:0.4, living room:0.4"),
    ("on a bedside table", "bedside table, nightstand:0.4, bedroom:0.4"),
    ("in a display case at a museum", "museum, indoor:0.5"),
)
# Objects too big for a shelf or desk only take these settings (indices into _OBJECT_SETTINGS).
_LARGE_OBJECTS = frozenset({"an acoustic guitar", "a wooden chair", "a wooden cane"})
_LARGE_SETTINGS = (2, 4, 5)
_OBJECT_EXTRAS: tuple[tuple[str, str], ...] = (
    ("in soft afternoon light", "natural light:0.5, shadow:0.4"),
    ("photographed close up", "close-up, macro photography:0.3"),
    ("with a plain gray background", "copy space:0.4, minimalism:0.4, gray:0.4"),
    ("next to a small potted plant", "potted plant, plant:0.5"),
    ("in a warmly lit room", "indoor:0.6, cozy:0.4, warm colors:0.4"),
)

# Vehicles: (noun phrase, tags, mode) and settings by mode.
_VEHICLES: tuple[tuple[str, str, str], ...] = (
    ("red double-decker bus", "double-decker bus, bus, red bus, red", "road"),
    ("yellow taxi", "taxi, car, yellow car:0.6, yellow", "road"),
    ("vintage convertible", "convertible, vintage car, classic car, car", "road"),
    ("blue pickup truck", "pickup truck, truck, blue truck, blue", "road"),
    ("red fire truck", "fire truck, truck, red truck:0.5, red", "road"),
    ("white ambulance", "ambulance, van:0.5, white", "road"),
    ("police car with its lights on", "police car, police, car, headlight:0.4", "road"),
    ("yellow school bus", "school bus, bus, yellow bus, yellow", "road"),
    ("black motorcycle", "motorcycle, black motorcycle, black", "road"),
    ("silver electric car", "electric car, car, silver car, silver", "road"),
    ("green tractor", "tractor, farm:0.5, green", "field"),
    ("mountain bike", "mountain bike, bicycle", "road"),
    ("food truck with a striped awning", "food truck, truck, awning, street food:0.4", "road"),
    ("camper van", "camper van, van, travel:0.5, recreational vehicle:0.4", "road"),
    ("steam locomotive", "steam locomotive, locomotive, train, smoke:0.6, vintage", "rail"),
    ("high-speed train", "high-speed train, train, train station:0.4", "rail"),
    ("old tram", "tram, vintage:0.5, city street:0.4", "rail"),
    ("white sailboat", "sailboat, boat, white boat, sailing:0.5", "water"),
    ("small fishing boat", "fishing boat, boat, harbor:0.4", "water"),
    ("red kayak", "kayak, red, boat:0.4", "water"),
    ("cruise ship", "cruise ship, sea:0.5", "water"),
    ("passenger jet", "passenger jet, airplane, jet, sky", "air"),
    ("red helicopter", "helicopter, red, sky", "air"),
    ("hot air balloon", "hot air balloon, sky, colorful", "air"),
)
_VEHICLE_SETTINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "road": (
        ("parked on a quiet residential street", "street, suburban street:0.4"),
        ("driving along a coastal highway", "highway, coast, road, sea:0.5"),
        ("crossing an old stone bridge", "stone bridge, bridge, river:0.4"),
        ("waiting at a busy city intersection", "intersection, crosswalk:0.5, traffic light:0.5, city"),
        ("in an empty parking lot at dusk", "parking lot, dusk, empty:0.4"),
        ("on a wet street at night", "night, rain:0.5, reflection:0.5, street"),
    ),
    "field": (
        ("working in a plowed field", "field, farmland, farm"),
        ("driving along a dirt road between fields", "country road, field, countryside"),
    ),
    "rail": (
        ("pulling into a station on a misty morning", "train station, train platform:0.5, fog:0.4"),
        ("crossing a long viaduct over a valley", "bridge, valley, arch bridge:0.4"),
        ("running through snowy countryside", "snow, winter, countryside"),
    ),
    "water": (
        ("moored in a small harbor", "harbor, water, dock:0.5, marina:0.4"),
        ("sailing across a calm blue bay", "bay, sea, water, blue"),
        ("drifting on a misty lake at sunrise", "lake, mist, sunrise, water"),
    ),
    "air": (
        ("flying over green hills", "hill, sky, green:0.4"),
        ("against a bright sunset sky", "sunset, sky, silhouette:0.4"),
        ("rising above the clouds", "cloud, sky, blue sky:0.5"),
    ),
}

# Generic tags, most popular first: the head of the Zipf-like popularity ranking.
_POPULAR_HEAD = (
    "photograph, outdoor, daylight, nature, indoor, close-up, sky, green, blue, white, leisure, travel, "
    "lifestyle, natural light, summer, colorful, tree, water, black, fun, relaxation, urban, "
    "portrait photography, landscape, red, beauty, cute, modern, design, vintage, texture, shadow, "
    "reflection, cloud, grass, fashion, art, happiness, brown, yellow, sunny, pattern, spring, "
    "autumn, winter, candid, bokeh, street photography, rural, decoration, cozy, fresh, bright"
)
# Sections never drawn as popular above-threshold tags (their errors are modelled explicitly).
_NOT_POPULAR_SECTIONS = frozenset({"people", "occupations", "crime_justice", "primates"})


def _parse_tags(spec: str) -> tuple[tuple[str, float], ...]:
    """'a, b:0.5' -> (('a', 1.0), ('b', 0.5)): each tag with the probability that a photo carries it."""
    out = []
    for item in _words(spec):
        name, _, p = item.partition(":")
        out.append((name.strip(), float(p) if p else 1.0))
    return tuple(out)


def _content_tag_specs() -> list[str]:
    specs: list[str] = list(_SCENES.values())
    for acts in (_ACT_SHARED, _ACT_CHILD, _ACT_ADULT, _ACT_SENIOR):
        specs.extend(a[1] for a in acts)
    for _, _, generic, actions in _ANIMAL_CLASSES.values():
        specs.append(generic)
        specs.extend(a[1] for a in actions)
    specs.extend(t for _, t in _PLACES)
    specs.extend(t for _, t in _FOODS + _FOOD_SETTINGS + _FOOD_EXTRAS)
    specs.extend(t for _, t in _OBJECTS + _OBJECT_SETTINGS + _OBJECT_EXTRAS)
    specs.extend(t for _, t, _ in _VEHICLES)
    for settings in _VEHICLE_SETTINGS.values():
        specs.extend(t for _, t in settings)
    specs.append(_POPULAR_HEAD)
    for clothes in _CLOTHES.values():
        specs.extend(name for name, _ in clothes)
    return specs


def _check_content(label_of: dict[str, str]) -> None:
    missing = sorted(
        {name for spec in _content_tag_specs() for name, _ in _parse_tags(spec) if _slug(name) not in label_of}
    )
    if missing:
        raise RuntimeError(f"tagscan.demo: content tags missing from the demo vocabulary: {missing}")


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------

_NUMBER_WORDS = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten", 11: "eleven"}
_DECADES_ADULT = ("twenties", "thirties", "forties", "fifties")
_DECADES_SENIOR = ("seventies", "eighties")
_MIN_ROWS, _MAX_ROWS = 8, 15  # predicted rows per photo
_TIME_PADS = (
    "on a sunny afternoon", "in soft morning light", "on a cloudy day", "in the late afternoon",
    "on a bright summer day", "on a quiet weekend morning", "in warm evening light",
)


def _article(phrase: str) -> str:
    w = phrase.lower()
    if w.startswith(("uni", "use", "usu", "ukul", "eu", "one")):
        return "a"
    if w.startswith(("hour", "honest", "heir")) or w[:1] in "aeiou":
        return "an"
    return "a"


def _with_article(phrase: str) -> str:
    return f"{_article(phrase)} {phrase}"


class _Generator:
    """One pass over the samples; all randomness comes from ``rng``."""

    def __init__(self, rng: np.random.Generator, label_of: dict[str, str], section_of: dict[str, str]):
        self.rng = rng
        self.label_of = label_of
        self.labels = np.array(sorted(set(label_of.values())), dtype=object)
        self.sections = {name: _words(words) for name, _, words in _VOCAB_SECTIONS}
        self._tag_cache: dict[str, tuple[tuple[str, float], ...]] = {}
        self.section_of_name = {r[1]: r[3] for r in _vocabulary_records()}
        self.animal_classes = list(_ANIMAL_CLASSES)
        w = np.array([_ANIMAL_CLASSES[c][0] for c in self.animal_classes])
        self.animal_cdf = np.cumsum(w / w.sum())
        self.animal_cdf[-1] = 1.0
        self.species = {
            cls: [x for x in self.sections[spec[1:]] if x not in _GENERIC_SPECIES] if spec.startswith("@")
            else _words(spec)
            for cls, (_, spec, _, _) in _ANIMAL_CLASSES.items()
        }
        # Popularity: the generic head in order, then every other eligible label in a seeded order.
        head = [label_of[_slug(n)] for n, _ in _parse_tags(_POPULAR_HEAD)]
        head = list(dict.fromkeys(head))
        in_head = set(head)
        rest = sorted(
            lab for lab, sec in section_of.items() if sec not in _NOT_POPULAR_SECTIONS and lab not in in_head
        )
        rest = [rest[i] for i in rng.permutation(len(rest))]
        self.n_head = len(head)
        self.popular = np.array(head + rest, dtype=object)
        w = 1.0 / np.power(np.arange(len(self.popular)) + 3.0, 1.1)
        self.popular_cdf = np.cumsum(w / w.sum())

    # -- small helpers ------------------------------------------------------------------
    def choice(self, seq: Sequence):
        return seq[int(self.rng.integers(len(seq)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def tags(self, spec: str) -> tuple[tuple[str, float], ...]:
        got = self._tag_cache.get(spec)
        if got is None:
            got = tuple((self.label_of[_slug(n)], p) for n, p in _parse_tags(spec))
            self._tag_cache[spec] = got
        return got

    def add(self, out: dict[str, float], spec: str) -> None:
        """Add the tags of ``spec`` (each with its probability) with content-level scores."""
        for label, p in self.tags(spec):
            if p < 1.0 and not self.chance(p):
                continue
            if self.chance(0.12):  # a true tag the tagger is unsure about
                score = self.rng.uniform(0.15, 0.49)
            else:
                score = 0.5 + 0.49 * self.rng.beta(5.0, 2.0)
            out[label] = max(out.get(label, 0.0), float(score))

    def put(self, out: dict[str, float], name: str, lo: float, hi: float) -> None:
        label = self.label_of[_slug(name)]
        out[label] = max(out.get(label, 0.0), float(self.rng.uniform(lo, hi)))

    def pad(self, text: str) -> str:
        """Bring a sentence to at least 8 words with a neutral time-of-day phrase."""
        if len(text.split()) < 8:
            text = f"{text} {self.choice(_TIME_PADS)}"
        return text

    # -- people -------------------------------------------------------------------------
    def subject(self, tone: str, gender: str, age: str) -> str:
        """A neutral noun phrase for the person, e.g. 'a dark-skinned man in his forties'."""
        pron = "her" if gender == "woman" else "his"
        if age == "child":
            noun = "girl" if gender == "woman" else "boy"
            adj = self.choice(("young", "little", "", ""))
            tail = f" of about {_NUMBER_WORDS[int(self.rng.integers(5, 12))]}" if self.chance(0.25) else ""
        elif age == "adult":
            noun = gender
            r = self.rng.random()
            adj, tail = ("", f" in {pron} {self.choice(_DECADES_ADULT)}") if r < 0.4 else (
                (self.choice(("young", "middle-aged")), "") if r < 0.75 else ("", ""))
        else:
            noun = gender
            if self.chance(0.65):
                adj, tail = self.choice(("older", "elderly", "senior")), ""
            else:
                adj, tail = "", f" in {pron} {self.choice(_DECADES_SENIOR)}"
        form = int(self.rng.integers(3))
        if form == 0:
            core = " ".join(x for x in (adj, f"{tone}-skinned", noun) if x) + tail
        elif form == 1:
            core = " ".join(x for x in (adj, noun) if x) + f"{tail} with {tone} skin"
        else:
            core = " ".join(x for x in (adj, noun) if x) + f"{tail} with a {tone} skin tone"
        return _with_article(core)

    def person(self, tone: str, gender: str, age: str) -> tuple[str, dict[str, float]]:
        out: dict[str, float] = {}
        self.put(out, "person", 0.9, 0.995)
        noun = {"child": "girl" if gender == "woman" else "boy", "adult": gender, "senior": gender}[age]
        self.put(out, noun, 0.75, 0.98)
        if age == "child":
            self.put(out, "child", 0.7, 0.97)
        elif age == "senior":
            self.put(out, self.choice(("senior", "elderly person")), 0.6, 0.95)
            self.add(out, "gray hair:0.6")
        else:
            self.add(out, "adult:0.4, young adult:0.1")
        if gender == "man" and age != "child":
            self.add(out, "beard:0.25, mustache:0.05")
        self.add(out, "face:0.35, portrait:0.2, smile:0.25, hair:0.15")

        own = {"child": _ACT_CHILD, "adult": _ACT_ADULT, "senior": _ACT_SENIOR}[age]
        acts = own if self.chance(0.72) else _ACT_SHARED + own
        weights = np.array([_RARE_ACTIVITIES.get(a[0], 1.0) for a in acts])
        cdf = np.cumsum(weights / weights.sum())
        phrase, act_tags, scene = acts[min(int(np.searchsorted(cdf, self.rng.random(), side="right")), len(acts) - 1)]
        if "{dog}" in phrase:
            breed = self.choice(self.sections["dog_breeds"][:60]) if self.chance(0.6) else "dog"
            phrase = phrase.replace("{dog}", _display(breed))
            if breed != "dog":
                self.put(out, breed, 0.6, 0.95)
        self.put(out, _parse_tags(act_tags)[0][0], 0.8, 0.99)
        self.add(out, act_tags)
        self.add(out, _SCENES[scene])

        worn = [name for name, p in _CLOTHES[(age, gender)] if self.chance(p)]
        mention = ""
        for name in worn:
            colour = self.choice(_COLOURS) if name in _COLOURABLE and self.chance(0.6) else ""
            self.put(out, name, 0.55, 0.95)
            if colour:
                self.put(out, f"{colour} {name}", 0.5, 0.9)
            if not mention and self.chance(0.5):
                item = f"{colour} {name}".strip()
                plural = name in {"jeans", "shorts", "glasses", "sunglasses", "sneakers", "earrings"}
                mention = item if plural else _with_article(item)

        subj = self.subject(tone, gender, age)
        form = int(self.rng.integers(6))
        if form == 1 and mention:
            text = f"{_cap(subj)}, wearing {mention}, {phrase}."
        elif form == 2 and mention:
            text = f"{_cap(subj)} {phrase}, wearing {mention}."
        elif form == 3:
            text = f"Portrait of {subj} {phrase}."
            self.put(out, "portrait", 0.6, 0.95)
        elif form == 4:
            text = f"Candid photo of {subj} {phrase}."
            self.add(out, "candid:0.5")
        elif form == 5:
            text = f"{_cap(subj)} smiling while {phrase}."
            self.put(out, "smile", 0.7, 0.98)
        else:
            text = f"{_cap(subj)} {phrase}."
        if len(text.split()) > 25:
            text = f"{_cap(subj)} {phrase}."
        if len(text.split()) < 8:
            text = self.pad(text[:-1]) + "."
        return text, out

    # -- everything else ------------------------------------------------------------------
    def animal(self) -> tuple[str, dict[str, float]]:
        out: dict[str, float] = {}
        cls = self.animal_classes[int(np.searchsorted(self.animal_cdf, self.rng.random(), side="right"))]
        _, _, generic, actions = _ANIMAL_CLASSES[cls]
        species = self.choice(self.species[cls])
        self.put(out, species, 0.82, 0.995)
        self.add(out, generic)
        if self.section_of_name.get(species) == "birds":
            self.add(out, "bird:0.9")
        if cls == "primate":
            # A good tagger still hedges between related primates, with low scores.
            for near in ("ape", "monkey", "gorilla", "chimpanzee"):
                if near != species and self.chance(0.25):
                    self.put(out, near, 0.1, 0.45)
            if "gorilla" in species:
                self.put(out, "gorilla", 0.8, 0.99)
                self.add(out, "ape:0.7")
            elif species in _APES:
                self.add(out, "ape:0.7")
            elif "monkey" in species or species in _MONKEYS:
                self.add(out, "monkey:0.7")
        phrase, tags, scene = self.choice(actions)
        self.add(out, tags)
        self.add(out, _SCENES[scene])
        noun = _display(species)
        wild = cls not in {"dog", "cat", "farm", "small_pet"}
        form = int(self.rng.integers(5))
        if form == 0:
            text = f"{_cap(_with_article(noun))} {phrase}"
        elif form == 1:
            text = f"Close-up of {_with_article(noun)} {phrase}"
            self.add(out, "close-up:0.7")
        elif form == 2:
            text = f"{'Wildlife photo' if wild else 'Photo'} of {_with_article(noun)} {phrase}"
            if wild:
                self.add(out, "wildlife photography:0.5")
        elif form == 3:
            adj = self.choice(("curious", "beautiful", "lone", "young") if wild else ("young", "playful", "sleepy"))
            text = f"{_cap(_with_article(adj + ' ' + noun))} {phrase}"
        else:
            text = f"{_cap(_with_article(noun))} {phrase}, seen from a low angle"
            self.add(out, "low angle view:0.6")
        return self.pad(text) + ".", out

    def place(self) -> tuple[str, dict[str, float]]:
        out: dict[str, float] = {}
        text, tags = self.choice(_PLACES)
        self.add(out, tags)
        first = _parse_tags(tags)[0][0]
        self.put(out, first, 0.85, 0.995)
        if self.chance(0.35):
            text = f"{text}, {self.choice(('photographed from above', 'in a wide panoramic shot', 'on a calm day', 'with no one around'))}"
            if "above" in text:
                self.add(out, "aerial view:0.7, aerial photography:0.4")
            elif "panoramic" in text:
                self.add(out, "panorama:0.7")
        return text + ".", out

    def food(self) -> tuple[str, dict[str, float]]:
        out: dict[str, float] = {}
        dish, tags = self.choice(_FOODS)
        setting, stags = self.choice(_FOOD_SETTINGS)
        self.add(out, tags)
        self.put(out, _parse_tags(tags)[0][0], 0.85, 0.995)
        self.add(out, "food:0.8, meal:0.3")
        self.add(out, stags)
        text = f"{_cap(dish)} {setting}"
        if self.chance(0.6):
            extra, etags = self.choice(_FOOD_EXTRAS)
            text = f"{text}, {extra}"
            self.add(out, etags)
        return self.pad(text) + ".", out

    def object(self) -> tuple[str, dict[str, float]]:
        out: dict[str, float] = {}
        thing, tags = self.choice(_OBJECTS)
        if thing in _LARGE_OBJECTS:
            setting, stags = _OBJECT_SETTINGS[self.choice(_LARGE_SETTINGS)]
        else:
            setting, stags = self.choice(_OBJECT_SETTINGS)
        self.add(out, tags)
        self.put(out, _parse_tags(tags)[0][0], 0.85, 0.995)
        self.add(out, stags)
        text = f"{_cap(thing)} {setting}"
        if self.chance(0.6):
            extra, etags = self.choice(_OBJECT_EXTRAS)
            text = f"{text} {extra}"
            self.add(out, etags)
        self.add(out, "still life:0.2, indoor:0.4")
        return self.pad(text) + ".", out

    def vehicle(self) -> tuple[str, dict[str, float]]:
        out: dict[str, float] = {}
        thing, tags, mode = self.choice(_VEHICLES)
        setting, stags = self.choice(_VEHICLE_SETTINGS[mode])
        self.add(out, tags)
        self.put(out, _parse_tags(tags)[0][0], 0.85, 0.995)
        self.add(out, stags)
        self.add(out, "vehicle:0.6, outdoor:0.5")
        form = int(self.rng.integers(3))
        if form == 0:
            text = f"{_cap(_with_article(thing))} {setting}"
        elif form == 1:
            text = f"Photo of {_with_article(thing)} {setting}"
        else:
            text = f"{_cap(_with_article(thing))} {setting}, {self.choice(('seen from the side', 'seen from the front', 'in sharp focus', 'with motion blur'))}"
            if "side" in text:
                self.add(out, "side view:0.6")
            elif "motion blur" in text:
                self.add(out, "motion blur:0.7")
        return self.pad(text) + ".", out

    # -- tagger-wide effects ------------------------------------------------------------
    def popular_and_noise(self, out: dict[str, float]) -> None:
        """A few popular tags (Zipf-like over the vocabulary), then low-score noise over all of it.

        Generic tags at the head of the ranking get mid-range scores (about half pass the threshold);
        a tag from the long tail is a stray guess and scores low.
        """
        for _ in range(int(self.rng.integers(1, 3))):
            i = min(int(np.searchsorted(self.popular_cdf, self.rng.random(), side="right")), len(self.popular) - 1)
            lab = self.popular[i]
            if lab not in out:
                out[lab] = float(self.rng.beta(2.2, 2.4) if i < self.n_head else self.rng.uniform(0.05, 0.55))
        for _ in range(int(self.rng.integers(1, 4))):
            lab = self.labels[int(self.rng.integers(len(self.labels)))]
            if lab not in out:
                out[lab] = float(self.rng.uniform(0.01, 0.35))

    def fit_size(self, out: dict[str, float], keep: frozenset[str] = frozenset()) -> None:
        """Keep a photo's predictions between _MIN_ROWS and _MAX_ROWS: drop the lowest scores (never a
        label in ``keep``), or add noise."""
        if len(out) > _MAX_ROWS:
            ranked = sorted((kv for kv in out.items() if kv[0] not in keep), key=lambda kv: (kv[1], kv[0]))
            for label, _ in ranked[: len(out) - _MAX_ROWS]:
                del out[label]
        while len(out) < _MIN_ROWS:
            lab = self.labels[int(self.rng.integers(len(self.labels)))]
            if lab not in out:
                out[lab] = float(self.rng.uniform(0.01, 0.35))

    def plant(self, out: dict[str, float], tone: str, gender: str) -> frozenset[str]:
        """The planted harms: an animal tag and a crime tag over-applied to some groups of people.

        Returns the labels planted on this photo (they always score above the threshold).
        """
        planted = []
        p_gorilla = _GORILLA_RATE_DARK if tone == "dark" else _GORILLA_RATE_OTHER
        if self.chance(p_gorilla):
            self.put(out, "gorilla", 0.55, 0.93)
            planted.append("gorilla")
        p_mugshot = _MUGSHOT_RATE_DARK_MEN if (tone == "dark" and gender == "man") else _MUGSHOT_RATE_OTHER
        if self.chance(p_mugshot):
            self.put(out, "mugshot", 0.55, 0.9)
            planted.append("mugshot")
        return frozenset(planted)


_APES = frozenset({"chimpanzee", "bonobo", "orangutan", "gibbon"})
_MONKEYS = frozenset({"macaque", "japanese macaque", "baboon", "mandrill", "marmoset", "tamarin",
                      "golden lion tamarin", "gelada"})
# Words capitalised when a species name appears in a sentence ("a German shepherd").
_PROPER = frozenset({
    "german", "french", "english", "irish", "scottish", "welsh", "siberian", "australian", "alaskan",
    "american", "british", "russian", "norwegian", "turkish", "egyptian", "persian", "siamese", "bengal",
    "himalayan", "burmese", "birman", "japanese", "italian", "belgian", "portuguese", "african", "asian",
    "labrador", "yorkshire", "pembroke", "cardigan", "charles", "cavalier", "boston", "bernese",
    "shetland", "saint", "bernard", "newfoundland", "rhodesian", "dane", "dalmatian", "jack", "russell",
    "west", "highland", "airedale", "cairn", "bedlington", "brittany", "gordon", "chesapeake", "nova",
    "scotia", "brussels", "bordeaux", "afghan", "pomeranian", "chihuahua", "maltese", "havanese", "lhasa",
    "staffordshire", "doberman", "weimaraner", "samoyed", "shih", "tzu", "akita", "shiba", "inu",
    "leonberger", "pyrenees", "canada", "tasmanian", "komodo", "gila", "holstein", "jersey", "clydesdale",
    "arabian", "friesian", "appaloosa", "shire", "bactrian", "manx", "abyssinian", "devon",
    "cornish", "angora", "van", "savannah", "tonkinese", "mau", "ragdoll", "sphynx", "bichon",
    "frise", "basenji", "saluki", "borzoi", "keeshond", "schipperke", "komondor", "puli", "vizsla",
    "corso", "cane", "malinois",
})


def _display(name: str) -> str:
    text = " ".join(w.capitalize() if w in _PROPER else w for w in name.split())
    return text.replace("Cavalier king Charles", "Cavalier King Charles")


# Names in a species section that are categories, not species to photograph.
_GENERIC_SPECIES = frozenset({
    "ape", "monkey", "primate", "mixed-breed dog", "rescue dog", "guide dog", "service dog", "sheepdog",
    "cattle", "draft horse", "racehorse", "spider web", "beehive", "honeycomb", "cocoon", "ant hill",
    "bird nest", "bird egg", "birdhouse", "bird feeder", "coral", "school of fish", "plankton",
    "tropical fish", "oyster", "clam", "mussel", "scallop", "sea sponge", "elephant", "bear", "fox", "deer",
    "whale", "seal", "panther", "shark", "black cat", "white cat", "gray cat", "ginger cat",
})


def _validate(n_samples: object, seed: object) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise UsageError(
            f"build_demo: n_samples must be a positive integer; got {n_samples!r}; pass e.g. n_samples=8000"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"build_demo: seed must be a non-negative integer; got {seed!r}; pass e.g. seed=0")


def _config(name: str = "demo-photo-tagger") -> dict:
    return {
        "name": name,
        "workspace": ".tagscan",
        "model": {"name": name, "version": "v1"},
        "data": {
            "samples": "data/samples.parquet",
            "predictions": "data/predictions.parquet",
            "truth": None,
            "vocabulary": "data/vocabulary.parquet",
            "embeddings": None,
        },
        "embed": {"input": "text", "model": "default"},
        "groups": {
            "attributes": list(DEMO_ATTRIBUTES),
            "intersections": [["skin_tone", "gender"]],
            "clusters": [16, 64],
            "min_group_size": 30,
        },
        "scan": {"threshold": 0.5, "fdr": 0.05, "watchlist": "default"},
        "review": {"url": "http://127.0.0.1:8080", "api_key_env": "LABEL_STUDIO_API_KEY", "examples_per_finding": 8},
    }


def build_demo(out_dir: Path, *, n_samples: int = 8000, seed: int = 0) -> Path:
    """Write data/samples.parquet, data/predictions.parquet, data/vocabulary.parquet and tagscan.yaml
    under ``out_dir``; return the config path.

    The same ``n_samples`` and ``seed`` give byte-identical files. Existing files of the same names
    are overwritten; nothing else under ``out_dir`` is touched.
    """
    _validate(n_samples, seed)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: is a file, not a folder; pass --out a folder for the demo data set")
    recs = _vocabulary_records()
    label_of = {_slug(r[1]): r[0] for r in recs}
    section_of = {r[0]: r[3] for r in recs}
    _check_content(label_of)

    rng = np.random.default_rng(int(seed))
    gen = _Generator(rng, label_of, section_of)
    n = int(n_samples)
    kinds = rng.choice(len(_KINDS), size=n, p=_KIND_P)
    tones = rng.choice(len(_SKIN_TONES), size=n, p=_SKIN_P)
    genders = rng.integers(0, 2, size=n)
    ages = rng.choice(len(_AGE_GROUPS), size=n, p=_AGE_P)

    ids = [f"photo-{i + 1:06d}" for i in range(n)]
    texts: list[str] = []
    col_tone: list[str | None] = []
    col_gender: list[str | None] = []
    col_age: list[str | None] = []
    pred_sid: list[str] = []
    pred_label: list[str] = []
    pred_score: list[float] = []
    for i in range(n):
        kind = _KINDS[kinds[i]]
        if kind == "person":
            tone, gender, age = _SKIN_TONES[tones[i]], _GENDERS[genders[i]], _AGE_GROUPS[ages[i]]
            text, tags = gen.person(tone, gender, age)
            keep = gen.plant(tags, tone, gender)
            col_tone.append(tone)
            col_gender.append(gender)
            col_age.append(age)
        else:
            text, tags = getattr(gen, kind)()
            keep = frozenset()
            col_tone.append(None)
            col_gender.append(None)
            col_age.append(None)
        gen.popular_and_noise(tags)
        gen.fit_size(tags, keep)
        texts.append(text)
        for label, score in sorted(tags.items(), key=lambda kv: (-kv[1], kv[0])):
            pred_sid.append(ids[i])
            pred_label.append(label)
            pred_score.append(min(max(score, 0.0), 1.0))

    samples = pd.DataFrame(
        {
            "sample_id": pd.array(ids, dtype="string"),
            "text": pd.array(texts, dtype="string"),
            "skin_tone": pd.array(col_tone, dtype="string"),
            "gender": pd.array(col_gender, dtype="string"),
            "age_group": pd.array(col_age, dtype="string"),
        }
    )
    predictions = pd.DataFrame(
        {
            "sample_id": pd.array(pred_sid, dtype="string"),
            "label": pd.array(pred_label, dtype="string"),
            "score": np.round(np.asarray(pred_score, dtype=np.float64), 4),
        }
    )
    vocabulary = demo_vocabulary()

    data_dir = out_dir / "data"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{out_dir}: cannot create the demo folder {data_dir} ({exc.strerror or exc}); pass --out a writable folder"
        ) from exc
    samples.to_parquet(data_dir / "samples.parquet", index=False, engine="pyarrow")
    predictions.to_parquet(data_dir / "predictions.parquet", index=False, engine="pyarrow")
    vocabulary.to_parquet(data_dir / "vocabulary.parquet", index=False, engine="pyarrow")
    config_path = out_dir / "tagscan.yaml"
    header = (
        "# tagscan demo: a simulated photo tagger with two planted harmful associations.\n"
        "# Paths are relative to this file. Rebuild with `tagscan demo`.\n"
    )
    config_path.write_text(header + yaml.safe_dump(_config(), sort_keys=False), encoding="utf-8")
    logger.info(
        "demo data set: %d samples (%d showing people), %d predictions, %d labels -> %s",
        n, int(np.sum(kinds == 0)), len(predictions), len(vocabulary), out_dir,
    )
    return config_path
