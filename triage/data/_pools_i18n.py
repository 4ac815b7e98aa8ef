"""German, French and Spanish phrase pools for the corpus generator (about 10% of messages).

Same conventions as ``_pools_en``: ``!`` marks a critical, ``^`` a high problem sentence.
"""

from typing import Final

Pool = dict[str, tuple[str, ...]]

PROBLEMS: Final[dict[str, Pool]] = {
    "de": {
        "billing": (
            "Sie haben mir für Bestellung {order} zweimal {amount} abgebucht.",
            "Die Rechnung {invoice} ist falsch, der Preis war niedriger.",
            "Ich habe mein Abo gekündigt und Sie buchen trotzdem {amount} ab.",
            "Die versprochene Erstattung von {amount} ist nach {days} Tagen nicht da.",
            "Auf meiner Rechnung steht eine Mahngebühr, obwohl ich pünktlich bezahlt habe.",
        ),
        "delivery": (
            "Mein Paket zur Bestellung {order} ist immer noch nicht angekommen.",
            "Laut Sendungsverfolgung zugestellt, aber hier ist nichts angekommen.",
            "Der Karton kam völlig zerdrückt an.",
            "Es fehlen {n} Artikel aus meiner Lieferung.",
            "Die Lieferung wurde schon viermal verschoben.",
        ),
        "product_quality": (
            "Der {product} funktioniert nach {days} Tagen nicht mehr.",
            "Die Naht ist nach dem ersten Waschen aufgegangen.",
            "Das Gerät ist defekt und macht laute Geräusche.",
            "Schon das zweite Ersatzgerät hat denselben Fehler.",
            "Die Qualität ist miserabel, der Griff ist sofort abgebrochen.",
        ),
        "service_outage": (
            "Ihre Webseite ist seit heute Morgen nicht erreichbar.",
            "Seit {date} habe ich kein Internet und kein Telefon.",
            "Die App stürzt bei jedem Start ab.",
            "!Bei Ihnen ist alles ausgefallen, keiner unserer Kunden kann bestellen.",
            "Das Kundenportal ist seit {hours} Stunden gestört.",
        ),
        "account_access": (
            "Ich kann mich nicht mehr in mein Konto einloggen.",
            "Die E-Mail zum Zurücksetzen des Passworts kommt nie an.",
            "Mein Konto wurde nach drei Versuchen gesperrt.",
            "Der Bestätigungscode geht an meine alte Handynummer.",
        ),
        "staff_conduct": (
            "Ihr Mitarbeiter am Telefon war extrem unhöflich und hat aufgelegt.",
            "Der Fahrer hat mich beschimpft.",
            "Die Filialleiterin in {city} hat mich vor anderen Kunden angeschrien.",
            "Mir wurde dreimal ein Rückruf versprochen, niemand hat angerufen.",
        ),
        "privacy_security": (
            "Ich bekomme weiter Werbung, obwohl ich mich abgemeldet habe.",
            "Bitte löschen Sie alle meine personenbezogenen Daten.",
            "!Nach dem Login sehe ich die Daten eines anderen Kunden.",
            "!Mein Konto wurde gehackt und jemand hat Bestellungen aufgegeben.",
            "Meine Auskunftsanfrage nach DSGVO vom {date} ist unbeantwortet.",
        ),
        "safety_legal": (
            "!Das Ladegerät hat beim Laden Feuer gefangen.",
            "!Mein Sohn hat sich an einer scharfen Kante verletzt.",
            "!Ich habe von dem Heizlüfter einen Stromschlag bekommen.",
            "^Das Kabel ist beschädigt und funkt beim Einstecken.",
            "!Ich werde rechtliche Schritte einleiten, mein Anwalt ist informiert.",
        ),
        "other": (
            "Ihre Öffnungszeiten am Samstag sind zu kurz.",
            "Die Musik in Ihrer Filiale ist viel zu laut.",
            "Bitte verwenden Sie weniger Plastik bei der Verpackung.",
            "Der Artikel ist seit Monaten ausverkauft.",
            "Ihre neue Webseite ist unübersichtlich.",
        ),
    },
    "fr": {
        "billing": (
            "Vous m'avez débité deux fois {amount} pour la commande {order}.",
            "La facture {invoice} est fausse, le prix affiché était plus bas.",
            "J'ai résilié mon abonnement et vous continuez à prélever {amount}.",
            "Le remboursement de {amount} promis il y a {days} jours n'est jamais arrivé.",
            "Des frais de retard injustifiés apparaissent sur ma facture.",
        ),
        "delivery": (
            "Mon colis pour la commande {order} n'est toujours pas arrivé.",
            "Le suivi indique livré mais je n'ai rien reçu.",
            "Le carton est arrivé complètement écrasé.",
            "Il manque {n} articles dans ma livraison.",
            "Le livreur n'a même pas sonné et a laissé un avis de passage.",
        ),
        "product_quality": (
            "Le {product} ne fonctionne plus après {days} jours.",
            "Les coutures ont lâché après le premier lavage.",
            "L'appareil est défectueux et fait un bruit horrible.",
            "Le deuxième produit de remplacement a le même défaut.",
            "La qualité est déplorable, la poignée s'est cassée tout de suite.",
        ),
        "service_outage": (
            "Votre site est inaccessible depuis ce matin.",
            "Je n'ai plus d'internet ni de téléphone depuis le {date}.",
            "L'application plante à chaque ouverture.",
            "!Panne totale : aucun de nos clients ne peut passer commande.",
            "L'espace client est hors service depuis {hours} heures.",
        ),
        "account_access": (
            "Je n'arrive plus à me connecter à mon compte.",
            "Je ne reçois jamais l'e-mail de réinitialisation du mot de passe.",
            "Mon compte a été bloqué après trois tentatives.",
            "Le code de vérification est envoyé à mon ancien numéro.",
        ),
        "staff_conduct": (
            "Votre conseiller au téléphone a été très impoli et m'a raccroché au nez.",
            "Le livreur m'a insulté.",
            "Le responsable du magasin de {city} m'a crié dessus devant les clients.",
            "On m'a promis trois fois un rappel, personne n'a rappelé.",
        ),
        "privacy_security": (
            "Je reçois encore vos publicités alors que je me suis désinscrit.",
            "Merci de supprimer toutes mes données personnelles.",
            "!En me connectant, je vois les données d'un autre client.",
            "!Mon compte a été piraté et des commandes ont été passées.",
            "Ma demande d'accès RGPD du {date} est restée sans réponse.",
        ),
        "safety_legal": (
            "!Le chargeur a pris feu pendant la charge.",
            "!Mon fils s'est blessé sur une arête coupante du jouet.",
            "!J'ai reçu une décharge électrique en touchant le radiateur.",
            "^Le câble est abîmé et fait des étincelles.",
            "!Je vais porter plainte, mon avocat est informé.",
        ),
        "other": (
            "Vos horaires d'ouverture le dimanche sont trop courts.",
            "La musique dans votre magasin est beaucoup trop forte.",
            "Merci d'utiliser moins de plastique dans vos emballages.",
            "L'article est en rupture de stock depuis des mois.",
            "Votre nouveau site est difficile à utiliser.",
        ),
    },
    "es": {
        "billing": (
            "Me han cobrado dos veces {amount} por el pedido {order}.",
            "La factura {invoice} es incorrecta, el precio era más bajo.",
            "Cancelé mi suscripción y siguen cobrándome {amount}.",
            "El reembolso de {amount} prometido hace {days} días no ha llegado.",
            "Me han cobrado un recargo por retraso aunque pagué a tiempo.",
        ),
        "delivery": (
            "Mi paquete del pedido {order} todavía no ha llegado.",
            "El seguimiento dice entregado pero no he recibido nada.",
            "La caja llegó completamente aplastada.",
            "Faltan {n} artículos en mi pedido.",
            "El repartidor ni siquiera llamó al timbre.",
        ),
        "product_quality": (
            "El {product} dejó de funcionar a los {days} días.",
            "Las costuras se abrieron después del primer lavado.",
            "El aparato está defectuoso y hace un ruido terrible.",
            "El segundo producto de reemplazo tiene el mismo defecto.",
            "La calidad es pésima, el asa se rompió enseguida.",
        ),
        "service_outage": (
            "Su página web no funciona desde esta mañana.",
            "No tengo internet ni teléfono desde el {date}.",
            "La aplicación se cierra cada vez que la abro.",
            "!Caída total del servicio: ninguno de nuestros clientes puede comprar.",
            "El área de clientes está fuera de servicio desde hace {hours} horas.",
        ),
        "account_access": (
            "No puedo iniciar sesión en mi cuenta.",
            "Nunca recibo el correo para restablecer la contraseña.",
            "Mi cuenta se bloqueó después de tres intentos.",
            "El código de verificación llega a mi número antiguo.",
        ),
        "staff_conduct": (
            "Su agente por teléfono fue muy maleducado y me colgó.",
            "El repartidor me insultó.",
            "El encargado de la tienda de {city} me gritó delante de otros clientes.",
            "Me prometieron tres veces que me llamarían y nadie llamó.",
        ),
        "privacy_security": (
            "Sigo recibiendo publicidad aunque me di de baja.",
            "Por favor, borren todos mis datos personales.",
            "!Al entrar en mi cuenta veo los datos de otro cliente.",
            "!Han hackeado mi cuenta y han hecho pedidos.",
            "Mi solicitud de acceso según el RGPD del {date} no tiene respuesta.",
        ),
        "safety_legal": (
            "!El cargador se incendió mientras cargaba.",
            "!Mi hijo se hizo una herida con un borde afilado del juguete.",
            "!Recibí una descarga eléctrica al tocar el calefactor.",
            "^El cable está dañado y echa chispas.",
            "!Voy a demandarles, mi abogado ya está informado.",
        ),
        "other": (
            "El horario de apertura del domingo es demasiado corto.",
            "La música en su tienda está demasiado alta.",
            "Por favor, usen menos plástico en los envases.",
            "El artículo lleva meses agotado.",
            "Su nueva página web es confusa.",
        ),
    },
}

SEVERITY_CUES: Final[dict[str, Pool]] = {
    "de": {
        "low": ("Ist nicht schlimm, nur ein Hinweis.", "Nur eine kleine Anregung.",
                "Kein dringendes Problem."),
        "medium": ("Bitte kümmern Sie sich darum.", "Ich bin enttäuscht.",
                   "Bitte melden Sie sich."),
        "high": ("Das ist schon das dritte Mal!", "Ich habe dadurch {amount} verloren.",
                 "Unser Geschäft steht still, wir verlieren jeden Tag Umsatz.",
                 "Ich brauche bis {weekday} eine Lösung."),
        "critical": ("Ich habe meinen Anwalt eingeschaltet.",
                     "Ich wende mich an die Verbraucherzentrale und die Datenschutzbehörde.",
                     "Mein Kind musste ins Krankenhaus.", "Es kam Rauch aus dem Gerät.",
                     "Das ist ein Datenleck."),
    },
    "fr": {
        "low": ("Ce n'est pas grave, juste pour information.", "Une petite suggestion.",
                "Rien d'urgent."),
        "medium": ("Merci de régler ce problème.", "Je suis déçu.",
                   "Merci de me répondre."),
        "high": ("C'est la troisième fois !", "J'ai perdu {amount} à cause de vous.",
                 "Notre entreprise est bloquée, nous perdons des ventes chaque jour.",
                 "J'ai besoin d'une solution avant {weekday}."),
        "critical": ("J'ai contacté mon avocat.", "Je vais saisir la CNIL et la DGCCRF.",
                     "Mon enfant a dû aller à l'hôpital.", "De la fumée est sortie de l'appareil.",
                     "C'est une fuite de données."),
    },
    "es": {
        "low": ("No es grave, solo para que lo sepan.", "Solo una pequeña sugerencia.",
                "Nada urgente."),
        "medium": ("Por favor, solucionen esto.", "Estoy decepcionado.",
                   "Espero su respuesta."),
        "high": ("¡Es la tercera vez!", "He perdido {amount} por su culpa.",
                 "Nuestro negocio está parado, perdemos ventas cada día.",
                 "Necesito una solución antes del {weekday}."),
        "critical": ("He contactado con mi abogado.", "Voy a denunciarles ante consumo y la AEPD.",
                     "Mi hijo tuvo que ir al hospital.", "Salió humo del aparato.",
                     "Esto es una filtración de datos."),
    },
}

OPENINGS: Final[dict[str, tuple[str, ...]]] = {
    "de": ("Sehr geehrte Damen und Herren,", "Hallo,", "Guten Tag,", "Liebes Support-Team,"),
    "fr": ("Madame, Monsieur,", "Bonjour,", "Bonjour à l'équipe,", "Chère équipe,"),
    "es": ("Estimados señores:", "Hola,", "Buenos días,", "Estimado equipo:"),
}

CLOSINGS: Final[dict[str, tuple[str, ...]]] = {
    "de": ("Mit freundlichen Grüßen", "Viele Grüße", "Danke und Gruß"),
    "fr": ("Cordialement,", "Bien à vous,", "Merci d'avance,"),
    "es": ("Saludos,", "Atentamente,", "Gracias de antemano,"),
}

SUBJECTS: Final[dict[str, tuple[str, ...]]] = {
    "de": ("Beschwerde", "Reklamation", "Problem mit Bestellung {order}", "Dringend"),
    "fr": ("Réclamation", "Plainte", "Problème avec la commande {order}", "Urgent"),
    "es": ("Reclamación", "Queja", "Problema con el pedido {order}", "Urgente"),
}
