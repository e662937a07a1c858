"""Matching reads the experience entries' titles too (``skill_profile_refresh``): derive
``skill_lexemes`` again for everyone with an entry. A profile is made for one who had
entries and no skills, as the service does."""

from django.db import migrations

from marketplace.search import lexemes


def derive_again(apps, schema_editor):
    ExperienceEntry = apps.get_model("marketplace", "ExperienceEntry")
    SkillProfile = apps.get_model("marketplace", "SkillProfile")
    titles = {}
    for user_id, title in ExperienceEntry.objects.values_list("user_id", "title"):
        titles.setdefault(user_id, []).append(title)
    for user_id, own in titles.items():
        profile, _ = SkillProfile.objects.get_or_create(user_id=user_id)
        profile.skill_lexemes = lexemes("\n".join([*profile.skills, *own]))
        profile.save(update_fields=["skill_lexemes"])


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0016_remove_user_confirmation_pending")]

    operations = [migrations.RunPython(derive_again, migrations.RunPython.noop)]
